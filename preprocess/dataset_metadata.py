"""The launcher's part of a dataset: its small metadata files, from the job's small outputs.

features.json and dataset_info.json make the directory readable by
`tfds.builder_from_directory`; metadata.json holds our counts, statistics and
parameters and is written last, because a reader takes a directory (or a
bucket prefix) for a dataset only once it is there.
"""
from __future__ import annotations

import json
from typing import Any, Iterable, Mapping

from babycry_jax.data import schema, storage

DATASET_NAME = "babycry"
DATASET_VERSION = "1.0.0"
_TFDS_FILEPATH_TEMPLATE = "{DATASET}-{SPLIT}.{FILEFORMAT}-{SHARD_X_OF_Y}"
_DESCRIPTION = ("Infant-cry windows: aligned log-mel, MFCC statistics and video frames "
                "(babycry_jax preprocessing).")


def split_summaries(shards: Iterable[Mapping[str, Any]], splits: Iterable[str]) -> dict[str, dict[str, Any]]:
  """The shard summaries of the job (shard_writer.WriteShard) -> per split, in shard order.

  Returns split -> {"num_examples", "shards", "shard_lengths", "labels", "num_bytes"}.
  """
  by_split: dict[str, list[Mapping[str, Any]]] = {split: [] for split in splits}
  for shard in shards:
    by_split[shard["split"]].append(shard)
  summaries = {}
  for split, split_shards in by_split.items():
    split_shards.sort(key=lambda s: s["index"])
    labels = {label: sum(s["labels"][label] for s in split_shards) for label in schema.LABELS}
    summaries[split] = {"num_examples": sum(s["num_records"] for s in split_shards),
                        "shards": [s["name"] for s in split_shards],
                        "shard_lengths": [s["num_records"] for s in split_shards],
                        "labels": labels, "num_bytes": sum(s["num_bytes"] for s in split_shards)}
  return summaries


def _dataset_info_json(splits: Mapping[str, Mapping[str, Any]]) -> str:
  # TFDS's DatasetInfo proto, written by protobuf alone: no TensorFlow needed.
  from google.protobuf import json_format
  from tensorflow_datasets.core.proto import dataset_info_pb2

  info = dataset_info_pb2.DatasetInfo(name=DATASET_NAME, version=DATASET_VERSION,
                                      description=_DESCRIPTION, file_format="tfrecord")
  for name, split in splits.items():
    if not split["shard_lengths"]:
      continue
    proto = info.splits.add()
    proto.name = name
    proto.shard_lengths.extend(split["shard_lengths"])
    proto.num_bytes = split["num_bytes"]
    proto.filepath_template = _TFDS_FILEPATH_TEMPLATE
  return json_format.MessageToJson(info, sort_keys=True)


def write(output_dir: str, spec: schema.FeatureSpec, splits: Mapping[str, Mapping[str, Any]],
          stats: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
  """Writes features.json, dataset_info.json, then metadata.json (local or gs://).

  Args:
    output_dir: where the job wrote the shards.
    spec: the feature spec the records were made with.
    splits: split_summaries of the job's shards.
    stats: the train split's feature statistics.
    extra: further metadata (inputs, counts, seed, fractions, ...).
  Returns:
    The content of metadata.json.
  """
  schema.features_dict(spec).save_config(output_dir)
  storage.write_text(storage.join(output_dir, "dataset_info.json"), _dataset_info_json(splits))
  metadata = {
      "record_format": schema.RECORD_FORMAT,
      "feature_spec": spec.to_json(),
      "splits": {s: {k: v for k, v in m.items() if k != "num_bytes"} for s, m in splits.items()},
      "stats": dict(stats),
      "num_records": sum(m["num_examples"] for m in splits.values()),
      **extra,
  }
  storage.write_text(storage.join(output_dir, schema.METADATA_FILE), json.dumps(metadata, indent=2, sort_keys=True))
  return metadata
