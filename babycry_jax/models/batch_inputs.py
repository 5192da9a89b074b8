"""What a model batch looks like: checked access to its arrays, and stand-in batches.

Every model reads its inputs through `read_input` so a wrong key or rank fails
with a message naming the model and the array, not deep inside a conv.
`example_batch` builds a batch of the right shapes for initialisation, FLOP
counts and tests.
"""
from __future__ import annotations

from typing import Any, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from babycry_jax.data import schema, yamnet_features
from babycry_jax.models.encoders import blank_missing

Batch = Mapping[str, Any]


def read_input(batch: Batch, key: str, owner: str) -> jax.Array:
  """Returns `batch[key]` after checking that it exists and has the expected rank.

  Args:
    batch: the model batch (see babycry_jax.models).
    key: one of schema.MODEL_INPUTS.
    owner: the model's name, used in error messages.
  """
  if key not in batch:
    raise KeyError(f"model {owner!r} needs batch[{key!r}]; the batch has {sorted(batch)}")
  value = batch[key]
  rank = schema.MODEL_INPUT_RANKS[key]
  if np.ndim(value) != rank:
    raise ValueError(f"model {owner!r}: batch[{key!r}] must have rank {rank}, "
                     f"got shape {np.shape(value)}")
  return value


def audio_and_video(batch: Batch, owner: str) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
  """(log_mel, frames, has_audio, has_video) of a fusion model's batch; the inputs of examples
  without a track are zeroed, so NaN or junk there cannot leak."""
  has_audio, has_video = presence(batch, "audio", owner), presence(batch, "video", owner)
  log_mel = blank_missing(jnp.asarray(read_input(batch, "log_mel", owner)), has_audio)
  frames = blank_missing(jnp.asarray(read_input(batch, "frames", owner)), has_video)
  return log_mel, frames, has_audio, has_video


def presence(batch: Batch, modality: str, owner: str) -> jax.Array:
  """The [B] float32 mask of examples that have `modality` ("audio" or "video").

  A batch without the flag counts every example as present.
  """
  key = f"has_{modality}"
  if key not in batch:
    data_key = "log_mel" if modality == "audio" else "frames"
    size = np.shape(read_input(batch, data_key, owner))[0]
    return jnp.ones((size,), jnp.float32)
  return jnp.asarray(read_input(batch, key, owner), jnp.float32)


def example_batch(batch_size: int = 2, audio_frames: int = 300, n_mels: int = 128,
                  mfcc_dim: int = 78, video_frames: int = 18, frame_size: int = 64,
                  channels: int = 1, seed: int | None = None,
                  yamnet_frames: int = 398) -> dict[str, np.ndarray]:
  """A batch with the model-facing shapes: zeros, or standard normals when `seed` is set.

  Returns:
    log_mel [B, audio_frames, n_mels], mfcc_stats [B, mfcc_dim], yamnet_log_mel
    [B, yamnet_frames, 64], frames [B, video_frames, frame_size, frame_size, channels]
    (float32), and has_audio, has_video [B] set to 1.0.
  """
  shapes = {
      "log_mel": (batch_size, audio_frames, n_mels),
      "mfcc_stats": (batch_size, mfcc_dim),
      "yamnet_log_mel": (batch_size, yamnet_frames, yamnet_features.N_MELS),
      "frames": (batch_size, video_frames, frame_size, frame_size, channels),
  }
  if seed is None:
    batch = {k: np.zeros(s, np.float32) for k, s in shapes.items()}
  else:
    rng = np.random.default_rng(seed)
    batch = {k: rng.standard_normal(s).astype(np.float32) for k, s in shapes.items()}
  batch["has_audio"] = np.ones((batch_size,), np.float32)
  batch["has_video"] = np.ones((batch_size,), np.float32)
  return batch
