"""Group-aware, deterministic train/validation/test assignment.

Every group (a recording, a study clip number, a phone) goes to exactly one
split, so near-duplicate windows of one recording never sit on both sides.
Within each label, groups are ordered by a stable hash of (seed, group id)
and cut by their cumulative size at the requested fractions; this keeps the
label balance in every split and, unlike an independent coin per group, still
gives small datasets a non-empty validation and test split. The price: adding
inputs can move groups that sit near a cut to a neighbouring split.
"""
from __future__ import annotations

import collections
import hashlib
from typing import Mapping, Sequence

from babycry_jax.data import schema

SPLITS = ("train", "validation", "test")
DEFAULT_FRACTIONS = (0.7, 0.15, 0.15)


def parse_fractions(text: str | Sequence[float]) -> tuple[float, float, float]:
  """'0.7,0.15,0.15' -> (0.7, 0.15, 0.15); they must be >= 0 and sum to 1."""
  values = [float(x) for x in text.split(",")] if isinstance(text, str) else [float(x) for x in text]
  if len(values) != 3 or any(v < 0 for v in values) or abs(sum(values) - 1.0) > 1e-6:
    raise ValueError(f"split fractions must be three non-negative numbers (train,validation,test) "
                     f"summing to 1, got {text!r}")
  if values[0] == 0:
    raise ValueError(f"the train fraction must be positive, got {text!r}")
  return tuple(values)  # type: ignore[return-value]


def group_hash(group: str, seed: int) -> str:
  """Stable across runs, machines and Python versions (unlike hash())."""
  return hashlib.sha256(f"{seed}\x00{group}".encode()).hexdigest()


def _majority_label(labels: Sequence[str]) -> str:
  counts = collections.Counter(labels)
  # Ties go to the label listed first in schema.LABELS, for determinism.
  return max(schema.LABELS, key=lambda lab: (counts[lab], -schema.LABELS.index(lab)))


def assign_splits(group_labels: Mapping[str, Sequence[str]],
                  fractions: Sequence[float] = DEFAULT_FRACTIONS,
                  seed: int = 0) -> dict[str, str]:
  """Assigns each group to a split.

  Args:
    group_labels: group id -> the labels of its units (one per file or
      interval); the number of labels is the group's weight.
    fractions: (train, validation, test) fractions, summing to 1.
    seed: changes the assignment; the same seed always gives the same one.

  Returns:
    group id -> "train" | "validation" | "test".
  """
  fractions = parse_fractions(fractions)
  by_label: dict[str, list[str]] = collections.defaultdict(list)
  for group, labels in group_labels.items():
    if not labels:
      raise ValueError(f"group {group!r} has no labels")
    by_label[_majority_label(labels)].append(group)

  assignment: dict[str, str] = {}
  for label in schema.LABELS:
    groups = sorted(by_label.get(label, []), key=lambda g: (group_hash(g, seed), g))
    weights = [len(group_labels[g]) for g in groups]
    total = float(sum(weights))
    chosen: list[int] = []
    cumulative = 0.0
    for weight in weights:
      # A group goes where the middle of its share of the cumulative weight falls.
      middle = (cumulative + weight / 2.0) / total
      cumulative += weight
      if middle < fractions[0]:
        chosen.append(0)
      elif middle < fractions[0] + fractions[1]:
        chosen.append(1)
      else:
        chosen.append(2)
    _fill_empty_splits(chosen, fractions)
    for group, split_index in zip(groups, chosen):
      assignment[group] = SPLITS[split_index]
  return assignment


def _fill_empty_splits(chosen: list[int], fractions: Sequence[float]) -> None:
  """Gives each split with a positive fraction at least one group when possible.

  The donor is the split holding the most groups (it must keep one); the group
  moved is the donor's group nearest in hash order to the empty split.
  """
  wanted = [i for i in (2, 1) if fractions[i] > 0]   # test first, then validation
  for empty in wanted:
    if empty in chosen:
      continue
    counts = collections.Counter(chosen)
    donor = max((0, 1, 2), key=lambda s: (counts[s], -s))
    if counts[donor] < 2:
      return
    positions = [k for k, s in enumerate(chosen) if s == donor]
    chosen[positions[-1] if empty > donor else positions[0]] = empty


def split_counts(assignment: Mapping[str, str], group_labels: Mapping[str, Sequence[str]]) -> dict[str, dict[str, int]]:
  """split -> label -> number of units (files or intervals) assigned there."""
  counts = {s: {lab: 0 for lab in schema.LABELS} for s in SPLITS}
  for group, split in assignment.items():
    for label in group_labels[group]:
      counts[split][label] += 1
  return counts
