"""Serialized record -> the model's inputs: one decoder for training, evaluation and detection."""
from __future__ import annotations

from typing import Any

import numpy as np

from babycry_jax.data import schema
from babycry_jax.data.example_parser import FastExampleParser


def _normalized(values: np.ndarray, mean, std, present: bool) -> np.ndarray:
  """(values - mean) / std as a new float32 array (in place on the copy: no temporaries)."""
  if not present:
    return np.zeros(values.shape, np.float32)
  out = values.astype(np.float32)  # always a copy
  out -= mean
  out /= std
  return out


class ExampleDecoder:
  """Serialized record -> the model's float32 inputs, normalized with train-split stats."""

  def __init__(self, metadata: dict[str, Any], audio_frames: int, video_frames: int):
    self.spec = schema.FeatureSpec.from_json(metadata["feature_spec"])
    self._parser = FastExampleParser(schema.features_dict(self.spec).get_serialized_info(),
                                     widen_float16=True)
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

  def parse(self, serialized: bytes) -> dict[str, Any]:
    """The raw record, as stored (see schema.features_dict); the float16 log-mel as float32."""
    return schema.decode_frames(self._parser.parse_example(serialized), self.spec)

  def model_inputs(self, record: dict[str, Any]) -> dict[str, Any]:
    """Crops to the configured lengths (from the window's start) and normalizes.

    A missing track stays all zeros after normalization, so models see "nothing"
    rather than the dataset mean.
    """
    present = {m: bool(record[flag]) for m, flag in schema.PRESENCE.items()}
    inputs = {}
    for name, spec in schema.MODEL_INPUT_SPECS.items():
      if not spec.normalized:
        inputs[name] = np.float32(present[spec.modality])
        continue
      value = record[spec.record_key]
      if spec.crop is not None:
        value = value[:self._crop[spec.crop]]
      inputs[name] = _normalized(value, *self._stats[spec.record_key], present[spec.modality])
    return {**inputs, "label": np.int32(record["label"]), "weight": np.float32(1.0)}
