"""Serialized record -> the model's inputs: one decoder for training, evaluation and detection.

Decoding has two steps so a loader can put each where it is cheapest:
`raw_inputs` (per record: parse and crop, frames left as uint8) and
`normalize` (vectorised over any leading batch dims: float32, train-split
statistics, a missing track all zeros). `model_inputs` is both, for one record.
"""
from __future__ import annotations

import functools
from typing import Any

import numpy as np

from babycry_jax.data import schema
from babycry_jax.data.example_parser import FastExampleParser


class ExampleDecoder:
  """Serialized record -> the model's float32 inputs, normalized with train-split stats.

  Pickles as its metadata and crop lengths, so loader worker processes rebuild it.
  """

  def __init__(self, metadata: dict[str, Any], audio_frames: int, video_frames: int):
    self.metadata = metadata
    self.spec = schema.FeatureSpec.from_json(metadata["feature_spec"])
    if audio_frames > self.spec.mel_frames:
      raise ValueError(f"config audio_frames={audio_frames} exceeds the dataset's "
                       f"{self.spec.mel_frames} log-mel frames")
    if video_frames > self.spec.num_frames:
      raise ValueError(f"config video_frames={video_frames} exceeds the dataset's "
                       f"{self.spec.num_frames} video frames")
    self.audio_frames = audio_frames
    self.video_frames = video_frames
    self._crop = {"audio_frames": audio_frames, "video_frames": video_frames}
    stats = metadata["stats"]
    self._stats = {key: (np.asarray(stats[key]["mean"], np.float32),
                         np.maximum(np.asarray(stats[key]["std"], np.float32), 1e-6))
                   for key in schema.NORMALIZED_FEATURES}

  def stats(self, record_key: str) -> tuple[np.ndarray, np.ndarray]:
    """(mean, std) float32 that normalize the feature `record_key` (std at least 1e-6)."""
    return self._stats[record_key]

  def __reduce__(self):
    return ExampleDecoder, (self.metadata, self.audio_frames, self.video_frames)

  @functools.cached_property
  def _parser(self) -> FastExampleParser:
    # Built at the first record: detection never parses one, and the schema behind the
    # parser imports TFDS, a tenth of a second of every detect start.
    return FastExampleParser(schema.features_dict(self.spec).get_serialized_info(),
                             widen_float16=True)

  def parse(self, serialized: bytes | memoryview) -> dict[str, Any]:
    """The raw record, as stored (see schema.features_dict); the float16 log-mel as float32."""
    return schema.decode_bytes_features(self._parser.parse_example(serialized), self.spec)

  def raw_inputs(self, record: dict[str, Any]) -> dict[str, np.ndarray]:
    """Every model input cropped to the configured lengths (from the window's start), not yet
    normalized: the log-mels and MFCC statistics float32, the frames uint8, the presence flags,
    label and weight (1) as scalars."""
    out = {}
    for name, spec in schema.MODEL_INPUT_SPECS.items():
      value = record[spec.record_key]
      if spec.kind == schema.FLAG:
        out[name] = np.float32(bool(value))
        continue
      out[name] = value[:self._crop[spec.crop]] if spec.crop is not None else value
    return {**out, "label": np.int32(record["label"]), "weight": np.float32(1.0)}

  def padding_inputs(self) -> dict[str, np.ndarray]:
    """raw_inputs of a stand-in example with weight 0 (padding, or a record skipped as corrupt)."""
    spec = self.spec
    return {"log_mel": np.zeros((self.audio_frames, spec.n_mels), np.float32),
            "mfcc_stats": np.zeros((spec.mfcc_stats_dim,), np.float32),
            "yamnet_log_mel": np.zeros(schema.yamnet_log_mel_shape(spec), np.float32),
            "frames": np.zeros((self.video_frames, spec.frame_size, spec.frame_size, spec.channels),
                               np.uint8),
            "has_audio": np.float32(0), "has_video": np.float32(0),
            "label": np.int32(0), "weight": np.float32(0)}

  def normalize(self, raw: dict[str, Any]) -> dict[str, Any]:
    """raw_inputs (one example, or stacked with leading batch dims) -> model inputs.

    A missing track stays all zeros after normalization, so models see "nothing"
    rather than the dataset mean.
    """
    out = dict(raw)
    for name, spec in schema.MODEL_INPUT_SPECS.items():
      if not spec.normalized:
        continue
      mean, std = self._stats[spec.record_key]
      # A new float32 array (uint8 frames widened on the fly), then divided in place.
      value = np.subtract(raw[name], mean, dtype=np.float32)
      value /= std
      present = np.asarray(raw[schema.PRESENCE[spec.modality]], np.float32)
      if not present.all():
        value *= present.reshape(present.shape + (1,) * (value.ndim - present.ndim))
      out[name] = value
    return out

  def model_inputs(self, record: dict[str, Any]) -> dict[str, Any]:
    """The model inputs of one parsed record (raw_inputs, then normalize)."""
    return self.normalize(self.raw_inputs(record))
