"""False alarms per source group: how often each kind of non-cry sound is flagged as crying."""
from __future__ import annotations

import collections
from typing import Sequence

import numpy as np


def false_alarms_by_group(groups: Sequence[str], labels: np.ndarray, scores: np.ndarray,
                          threshold: float) -> dict[str, dict[str, float]]:
  """{group: {"windows", "flagged", "false_alarm_rate"}} over the not-crying windows.

  Args:
    groups: [N] the source group of each window.
    labels: [N] 0 = not crying, 1 = crying (crying windows are left out).
    scores: [N] crying probabilities; a window is flagged when its score >= threshold.
  """
  if not len(groups) == len(labels) == len(scores):
    raise ValueError(f"groups, labels and scores differ in length: {len(groups)}, "
                     f"{len(labels)}, {len(scores)}")
  counts: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
  for group, label, score in zip(groups, labels, scores):
    if label == 0:
      counts[group][0] += 1
      counts[group][1] += int(score >= threshold)
  return {g: {"windows": n, "flagged": k, "false_alarm_rate": k / n}
          for g, (n, k) in sorted(counts.items())}
