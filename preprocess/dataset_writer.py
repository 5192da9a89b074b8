"""The last, deterministic step: work files of the Beam job -> a TFDS-format dataset dir.

Beam workers write every encoded record once, in any order, to work TFRecord
files, each record carrying a small JSON header (clip id, split, label, track
flags and the partial sums needed for feature statistics). This module then,
in one process, orders each split by clip id, cuts it into contiguous shards,
and writes the shards, their tfrecord index files, features.json,
dataset_info.json (readable by `tfds.builder_from_directory`), metadata.json
and errors.jsonl. Because the order and the sums depend only on the records,
the dataset is byte-identical whatever the number of workers.
"""
from __future__ import annotations

import dataclasses
import glob
import json
import math
import os
import struct
from typing import Any, Mapping, Optional, Sequence

import numpy as np

from babycry_jax.data import schema, tfrecord_codec

DEFAULT_SHARD_BYTES = 256 * 1024 * 1024
DATASET_NAME = "babycry"
DATASET_VERSION = "1.0.0"
_TFDS_FILEPATH_TEMPLATE = "{DATASET}-{SPLIT}.{FILEFORMAT}-{SHARD_X_OF_Y}"


# ---------------------------------------------------------------- work records

def serialize_example(serializer: Any, encoded_example: Mapping[str, Any]) -> bytes:
  """tf.train.Example bytes with the feature map in key order.

  Protobuf map order is otherwise arbitrary and differs between processes,
  which would make shards depend on which worker wrote a record.
  """
  return serializer.get_tf_example(encoded_example).SerializeToString(deterministic=True)


def record_stats(example: Mapping[str, Any]) -> dict[str, Any]:
  """Partial sums of one record for feature mean/std (present tracks only).

  Returns {"audio/log_mel": [count, sum, sum_sq], "audio/mfcc_stats":
  [sum[78], sum_sq[78]], "video/frames": [count, sum, sum_sq]} with absent
  tracks left out; sums are float64.
  """
  stats: dict[str, Any] = {}
  if bool(example["has_audio"]):
    log_mel = np.asarray(example["audio/log_mel"], np.float64)
    stats["audio/log_mel"] = [int(log_mel.size), float(log_mel.sum()), float(np.square(log_mel).sum())]
    mfcc = np.asarray(example["audio/mfcc_stats"], np.float64)
    stats["audio/mfcc_stats"] = [mfcc.tolist(), np.square(mfcc).tolist()]
  if bool(example["has_video"]):
    frames = np.asarray(example["video/frames"], np.float64)
    stats["video/frames"] = [int(frames.size), float(frames.sum()), float(np.square(frames).sum())]
  return stats


def pack_work_record(header: Mapping[str, Any], example_bytes: bytes) -> bytes:
  """A work record: 4-byte header length, the JSON header, the serialized example."""
  header_bytes = json.dumps(header, sort_keys=True).encode()
  return struct.pack("<I", len(header_bytes)) + header_bytes + example_bytes


def unpack_work_header(data: bytes) -> tuple[dict[str, Any], int]:
  """(header, offset of the example bytes inside `data`)."""
  (header_len,) = struct.unpack("<I", data[:4])
  return json.loads(data[4:4 + header_len]), 4 + header_len


@dataclasses.dataclass
class _WorkRecord:
  header: dict[str, Any]
  path: str
  offset: int      # of the serialized example inside the work file
  length: int


def _scan_work_files(pattern: str) -> list[_WorkRecord]:
  records = []
  for path in sorted(glob.glob(pattern)):
    with open(path, "rb") as f:
      for data_offset, data_length in tfrecord_codec.iter_spans(path):
        f.seek(data_offset)
        (header_len,) = struct.unpack("<I", f.read(4))
        header = json.loads(f.read(header_len))
        records.append(_WorkRecord(header, path, data_offset + 4 + header_len,
                                   data_length - 4 - header_len))
  return records


# ---------------------------------------------------------------- statistics

def _combine_stats(headers: Sequence[Mapping[str, Any]], mfcc_dim: int) -> dict[str, Any]:
  """Mean/std per feature over the given records (in order, exactly summed).

  A feature whose track is absent from every record gets mean 0 and std 1, so
  normalising with it leaves values unchanged.
  """
  def scalar(name: str) -> dict[str, float]:
    parts = [h["stats"][name] for h in headers if name in h.get("stats", {})]
    count = sum(p[0] for p in parts)
    if not count:
      return {"mean": 0.0, "std": 1.0}
    mean = math.fsum(p[1] for p in parts) / count
    var = max(math.fsum(p[2] for p in parts) / count - mean * mean, 0.0)
    return {"mean": mean, "std": math.sqrt(var)}

  mfcc_parts = [h["stats"]["audio/mfcc_stats"] for h in headers if "audio/mfcc_stats" in h.get("stats", {})]
  if mfcc_parts:
    n = len(mfcc_parts)
    mean = [math.fsum(p[0][k] for p in mfcc_parts) / n for k in range(mfcc_dim)]
    sq = [math.fsum(p[1][k] for p in mfcc_parts) / n for k in range(mfcc_dim)]
    mfcc = {"mean": mean, "std": [math.sqrt(max(s - m * m, 0.0)) for m, s in zip(mean, sq)]}
  else:
    mfcc = {"mean": [0.0] * mfcc_dim, "std": [1.0] * mfcc_dim}
  return {"audio/log_mel": scalar("audio/log_mel"), "audio/mfcc_stats": mfcc,
          "video/frames": scalar("video/frames")}


# ---------------------------------------------------------------- the dataset dir

def auto_num_shards(num_records: int, num_bytes: int, shard_bytes: int = DEFAULT_SHARD_BYTES) -> int:
  if num_records == 0:
    return 0
  return max(1, min(num_records, math.ceil(num_bytes / shard_bytes)))


def _write_dataset_info(out_dir: str, split_infos: Mapping[str, Mapping[str, Any]], description: str) -> None:
  # The TFDS proto is written as JSON by hand-free protobuf code: no TF needed.
  from google.protobuf import json_format
  from tensorflow_datasets.core.proto import dataset_info_pb2

  info = dataset_info_pb2.DatasetInfo(
      name=DATASET_NAME, version=DATASET_VERSION, description=description, file_format="tfrecord")
  for name, split in split_infos.items():
    if not split["shard_lengths"]:
      continue
    proto = info.splits.add()
    proto.name = name
    proto.shard_lengths.extend(split["shard_lengths"])
    proto.num_bytes = split["num_bytes"]
    proto.filepath_template = _TFDS_FILEPATH_TEMPLATE
  with open(os.path.join(out_dir, "dataset_info.json"), "w") as f:
    f.write(json_format.MessageToJson(info, sort_keys=True))


def write_dataset(out_dir: str, work_pattern: str, spec: schema.FeatureSpec,
                  errors: Sequence[Mapping[str, Any]], num_shards: Optional[int],
                  extra_metadata: Mapping[str, Any]) -> dict[str, Any]:
  """Writes shards, indexes and json files into `out_dir` (which must exist).

  Args:
    out_dir: the (temporary) dataset directory.
    work_pattern: glob of the work TFRecord files written by the Beam job.
    spec: the feature spec the records were made with.
    errors: one dict per unusable input ({"path", "reason", "detail"}).
    num_shards: shards per split; None picks by size (256 MiB per shard).
    extra_metadata: merged into metadata.json (inputs, seed, fractions, ...).

  Returns:
    The metadata dict written to metadata.json.
  """

  from preprocess import splits as splits_lib

  records = _scan_work_files(work_pattern)
  by_split: dict[str, list[_WorkRecord]] = {s: [] for s in splits_lib.SPLITS}
  seen: dict[str, str] = {}
  for record in records:
    clip_id = record.header["clip_id"]
    if clip_id in seen:
      raise ValueError(f"clip id {clip_id!r} was produced twice ({seen[clip_id]} and {record.header['source_id']})")
    seen[clip_id] = record.header["source_id"]
    by_split[record.header["split"]].append(record)

  split_meta: dict[str, dict[str, Any]] = {}
  for split, split_records in by_split.items():
    split_records.sort(key=lambda r: r.header["clip_id"])
    total_bytes = sum(r.length for r in split_records)
    n = len(split_records)
    shards = num_shards if num_shards else auto_num_shards(n, total_bytes)
    shards = min(shards, n)
    shard_files, shard_lengths, num_bytes = [], [], 0
    for index in range(shards):
      chunk = split_records[index * n // shards:(index + 1) * n // shards]
      name = schema.shard_name(split, index, shards)
      path = os.path.join(out_dir, name)
      with open(path, "wb") as out:
        for record in chunk:
          with open(record.path, "rb") as src:
            src.seek(record.offset)
            num_bytes += tfrecord_codec.write_record(out, src.read(record.length))
      with open(schema.index_path(path), "w") as index:
        index.write(tfrecord_codec.index_text(r.length for r in chunk))
      shard_files.append(name)
      shard_lengths.append(len(chunk))
    labels = {lab: 0 for lab in schema.LABELS}
    for record in split_records:
      labels[record.header["label"]] += 1
    split_meta[split] = {"num_examples": n, "shards": shard_files, "shard_lengths": shard_lengths,
                         "labels": labels, "num_bytes": num_bytes}

  stats = _combine_stats([r.header for r in by_split["train"]], spec.mfcc_stats_dim)
  features = schema.features_dict(spec)
  features.save_config(out_dir)
  _write_dataset_info(out_dir, split_meta, "Infant-cry windows: aligned log-mel, MFCC statistics "
                      "and video frames (babycry_jax preprocessing).")

  with open(os.path.join(out_dir, schema.ERRORS_FILE), "w") as f:
    for error in sorted(errors, key=lambda e: (e["path"], e["reason"], e.get("detail", ""))):
      f.write(json.dumps({"path": error["path"], "reason": error["reason"],
                          "detail": error.get("detail", "")}) + "\n")

  metadata = {
      "record_format": schema.RECORD_FORMAT,
      "feature_spec": spec.to_json(),
      "splits": {s: {k: v for k, v in m.items() if k != "num_bytes"}
                 for s, m in split_meta.items()},
      "stats": stats,
      "num_records": len(records),
      **extra_metadata,
  }
  # A short input padded to a window shows as a padded record of its own.
  padded_sources = {r.header["source_id"] for r in records if r.header["padded"]}
  metadata["short_inputs"] = {"padded": len(padded_sources),
                              "skipped": int(extra_metadata.get("short_inputs", {}).get("skipped", 0))}
  with open(os.path.join(out_dir, schema.METADATA_FILE), "w") as f:
    json.dump(metadata, f, indent=2, sort_keys=True)
  return metadata
