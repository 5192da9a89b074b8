"""Writes a small dataset dir in the real on-disk format, straight from numpy.

Trainer tests use it so that they need neither media decoding nor Beam; the
format (schema, shards, index files, metadata) is the one preprocess writes.
"""
from __future__ import annotations

import json
import os

import numpy as np
from tensorflow_datasets.core import example_serializer
from tfrecord.tools import tfrecord2idx

from babycry_jax.data import schema
from babycry_jax.data.tfrecord_codec import masked_crc

SMALL_SPEC = schema.FeatureSpec(preset="test", window_s=0.4, sample_rate=8000, stft_window=160,
                                stft_hop=80, n_mels=16, num_frames=4, frame_size=8)


def _record(data: bytes) -> bytes:
  import struct
  header = struct.pack("<Q", len(data))
  return header + struct.pack("<I", masked_crc(header)) + data + struct.pack("<I", masked_crc(data))


def make_example(rng: np.random.Generator, spec: schema.FeatureSpec, label: int, i: int) -> dict:
  """Label-dependent features: crying has a bright mel band and bright frames."""
  log_mel = rng.normal(0, 1, (spec.mel_frames, spec.n_mels)).astype(np.float32)
  log_mel[:, 2:6] += 3.0 * label
  frames = rng.integers(0, 100, (spec.num_frames, spec.frame_size, spec.frame_size, spec.channels))
  frames[:, 2:5, 2:5] += 120 * label
  mfcc = rng.normal(0, 1, spec.mfcc_stats_dim).astype(np.float32)
  mfcc[0] += 1.5 * label
  yamnet_log_mel = rng.normal(-4, 1, schema.yamnet_log_mel_shape(spec)).astype(np.float32)
  yamnet_log_mel[:, 10:14] += 2.0 * label
  return {
      "clip_id": f"src{i}@0", "source_id": f"src{i}", "label": label, "start_s": 0.0,
      "duration_s": spec.window_s, "padded": False,
      "audio/log_mel": log_mel.astype(np.float16), "audio/mfcc_stats": mfcc,
      "audio/yamnet_log_mel": yamnet_log_mel.astype(np.float16),
      "video/frames": frames.astype(np.uint8), "has_audio": True, "has_video": True,
  }


def write(dataset_dir: str, sizes: dict[str, int] | None = None, spec=SMALL_SPEC,
          num_shards: int = 2, seed: int = 0) -> str:
  sizes = sizes or {"train": 64, "validation": 24, "test": 24}
  os.makedirs(dataset_dir, exist_ok=True)
  features = schema.features_dict(spec)
  serializer = example_serializer.ExampleSerializer(features.get_serialized_info())
  rng = np.random.default_rng(seed)
  splits, offset = {}, 0
  for split, n in sizes.items():
    examples = [make_example(rng, spec, i % 2, offset + i) for i in range(n)]
    offset += n
    names, lengths = [], []
    for s, part in enumerate(np.array_split(np.arange(n), num_shards)):
      name = schema.shard_name(split, s, num_shards)
      path = os.path.join(dataset_dir, name)
      with open(path, "wb") as f:
        for i in part:
          f.write(_record(serializer.serialize_example(features.encode_example(examples[i]))))
      tfrecord2idx.create_index(path, schema.index_path(path))
      names.append(name)
      lengths.append(len(part))
    splits[split] = {"num_examples": n, "shards": names, "shard_lengths": lengths,
                     "labels": {"not_crying": (n + 1) // 2, "crying": n // 2}}
  metadata = {
      "record_format": schema.RECORD_FORMAT, "feature_spec": spec.to_json(), "splits": splits,
      "stats": {"audio/log_mel": {"mean": 0.5, "std": 1.2},
                "audio/mfcc_stats": {"mean": [0.0] * spec.mfcc_stats_dim, "std": [1.0] * spec.mfcc_stats_dim},
                "video/frames": {"mean": 80.0, "std": 50.0}},
      "num_failed": 0,
  }
  with open(os.path.join(dataset_dir, schema.METADATA_FILE), "w") as f:
    json.dump(metadata, f)
  return dataset_dir
