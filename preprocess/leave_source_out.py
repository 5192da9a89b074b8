"""A dataset with one negative source group held out of training, for honest false-alarm rates.

From a built real-world dataset (preprocess.real_world) and its sources.csv:
  train, validation  the original splits without the held-out group's windows, and
                     without cry mixtures whose background came from that group
  test               the original test split plus every held-out window of the
                     other splits: the model never heard any of that group
Records are copied byte for byte; the train statistics the decoder normalises
with are recomputed over the remaining train records, so nothing of the held-out
group reaches the model, not even through its feature means.
"""
from __future__ import annotations

import collections
import json
import math
import os
import zlib
from typing import Callable

import numpy as np

from babycry_jax.data import schema, storage, tfrecord_codec
from babycry_jax.data.example_decoder import ExampleDecoder

SPLITS = ("train", "validation", "test")
# Copied unchanged: the record schema is the same.
_COPIED_FILES = ("features.json", "label.labels.txt")


def is_held_out(source_group: str, category: str, held_out: str) -> bool:
  """A window of the held-out group, or a cry mixed into one of its recordings."""
  return source_group == held_out or category == f"mix/{held_out}"


def with_heard_share(sources: dict[str, dict], held_out: str, share: float) -> dict[str, dict]:
  """sources with `share` of held_out's recordings, in each of its categories (rounded half
  up), moved to the group "<held_out>_heard": not held out, they stay in the dataset's own
  splits like any other group, and the held-out group's false alarms count only the rest.
  Picked in the order of a hash of the path, so every seed and run hears the same recordings
  and a larger share hears all that a smaller one does. Cry mixtures in the group's
  recordings stay left out."""
  by_category = collections.defaultdict(list)
  for path, source in sources.items():
    if source["source_group"] == held_out:
      by_category[source["category"]].append(path)
  out = dict(sources)
  for paths in by_category.values():
    heard = math.floor(share * len(paths) + 0.5)
    for path in sorted(paths, key=lambda p: (zlib.crc32(p.encode()), p))[:heard]:
      out[path] = dict(sources[path], source_group=f"{held_out}_heard")
  return out


class _Stats:
  """Exact sums for the log-mel's scalar and the MFCC statistics' per-dimension mean/std."""

  def __init__(self, mfcc_dim: int):
    self.mel = [0.0, 0.0, 0]                 # sum, sum of squares, count
    self.mfcc = np.zeros((2, mfcc_dim), np.float64)
    self.mfcc_count = 0

  def add(self, record: dict) -> None:
    if not record[schema.HAS_AUDIO]:
      return
    mel = np.asarray(record[schema.LOG_MEL], np.float64)
    self.mel[0] += float(mel.sum())
    self.mel[1] += float(np.square(mel).sum())
    self.mel[2] += mel.size
    mfcc = np.asarray(record[schema.MFCC_STATS], np.float64)
    self.mfcc += np.stack([mfcc, np.square(mfcc)])
    self.mfcc_count += 1

  def result(self, original: dict) -> dict:
    if self.mel[2] == 0:
      raise ValueError("no train record with audio is left: cannot hold this group out")
    mean = self.mel[0] / self.mel[2]
    mfcc_mean = self.mfcc[0] / self.mfcc_count
    return {**original,
            schema.LOG_MEL: {"mean": mean,
                             "std": math.sqrt(max(self.mel[1] / self.mel[2] - mean * mean, 0.0))},
            schema.MFCC_STATS: {"mean": mfcc_mean.tolist(),
                                "std": np.sqrt(np.maximum(self.mfcc[1] / self.mfcc_count
                                                          - np.square(mfcc_mean), 0.0)).tolist()}}


def write_held_out_dataset(dataset_dir: str, out_dir: str, held_out: str,
                           source_of: Callable[[str], tuple[str, str]]) -> dict:
  """Writes the leave-one-source-out dataset of held_out into out_dir.

  Args:
    dataset_dir: a built dataset.
    out_dir: folder to create (must not exist).
    held_out: the source group left out of training and validation.
    source_of: source_id -> (source group, category), e.g. from sources.csv.

  Returns:
    {split: {label: records}} of the written dataset, and "held_out_windows".
  """
  if storage.exists(storage.join(out_dir, schema.METADATA_FILE)):
    raise FileExistsError(f"{out_dir} already holds a dataset")
  metadata = schema.read_metadata(dataset_dir)
  decoder = ExampleDecoder(metadata, 1, 1)
  kept: dict[str, list[bytes]] = collections.defaultdict(list)
  labels: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
  stats = _Stats(schema.FeatureSpec.from_json(metadata["feature_spec"]).mfcc_stats_dim)
  held_out_windows = 0
  for split in SPLITS:
    for shard in metadata["splits"][split]["shards"]:
      for data in tfrecord_codec.read_records(storage.join(dataset_dir, shard)):
        record = decoder.parse(data)
        source_id = record["source_id"]
        source_id = source_id.decode() if isinstance(source_id, bytes) else str(source_id)
        group, category = source_of(source_id)
        target = split
        if is_held_out(group, category, held_out):
          if category.startswith("mix/"):
            continue           # a cry in the held-out group's recording: used nowhere
          target = "test"
          held_out_windows += 1
        kept[target].append(data)
        labels[target][schema.LABELS[int(record["label"])]] += 1
        if target == "train":
          stats.add(record)
  if held_out_windows == 0:
    raise ValueError(f"no window of source group {held_out!r} in {dataset_dir}")
  os.makedirs(out_dir, exist_ok=True)
  splits_meta = {}
  for split in SPLITS:
    shard = schema.shard_name(split, 0, 1)
    count, _ = tfrecord_codec.write_shard(storage.join(out_dir, shard), kept[split])
    splits_meta[split] = {"labels": {lab: labels[split][lab] for lab in schema.LABELS},
                          "num_examples": count, "shard_lengths": [count], "shards": [shard]}
  for name in _COPIED_FILES:
    source = storage.join(dataset_dir, name)
    if storage.exists(source):
      storage.write_text(storage.join(out_dir, name), storage.read_text(source))
  metadata = dict(metadata, splits=splits_meta, stats=stats.result(metadata["stats"]),
                  num_records=sum(len(v) for v in kept.values()),
                  held_out={"dataset": storage.absolute(dataset_dir), "source_group": held_out,
                            "windows": held_out_windows})
  storage.write_text(storage.join(out_dir, schema.METADATA_FILE), json.dumps(metadata, indent=1))
  return {"splits": {s: m["labels"] for s, m in splits_meta.items()},
          "held_out_windows": held_out_windows}
