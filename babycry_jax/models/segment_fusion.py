"""Per-segment audio and video features, the front end the study's segment fusion models share.

A clip's log-mel and frames are cut into `num_segments` equal parts in time
(300 mel frames -> 3 x 100, 18 frames -> 3 x 6). One encoder per modality,
with weights shared across segments, turns each part into a feature vector;
a modality an example lacks is blanked at the input and replaced by a learned
vector at the output, so one model serves clips with a missing track.
"""
from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from babycry_jax.models.batch_inputs import Batch, audio_and_video
from babycry_jax.models.encoders import (ConvEncoder, Dtype, FillMissing,
                                         per_segment, split_segments, tile_frames)


def tiled_cnn(conv_features: Sequence[int], dense_features: int | None, name: str,
              batch_norm: bool, bn_axis_name: str | None, dtype: Dtype) -> ConvEncoder:
  """The study's CNN+CNN segment encoder: 5x5 convs, each with 3x3 max pooling at stride 2."""
  n = len(conv_features)
  return ConvEncoder(conv_features, [(5, 5)] * n, [(3, 3)] * n, [(2, 2)] * n,
                     dense_features=dense_features, batch_norm=batch_norm,
                     bn_axis_name=bn_axis_name, dtype=dtype, name=name)


def segment_features(batch: Batch, owner: str, audio_encoder: nn.Module,
                     video_encoder: nn.Module, num_segments: int, tile_video: bool,
                     train: bool) -> jax.Array:
  """Encodes each segment of each modality and joins them per segment.

  Call from inside a compact method; the encoders must belong to that module.

  Args:
    batch: log_mel [B, T, n_mels], frames [B, F, H, W, C], has_audio, has_video [B].
    owner: the model's name, for error messages.
    audio_encoder: maps [N, T/S, n_mels, 1] to [N, Da].
    video_encoder: maps [N, H, (F/S)*W, C] when `tile_video`, else [N, F/S, H, W, C],
      to [N, Dv].
    num_segments: S.
    tile_video: lay each segment's frames side by side into one image (the
      study's CNN+CNN models) instead of keeping a frame axis (its 3D CNNs).
    train: training mode (dropout, BatchNorm statistics).

  Returns:
    [B, S, Da + Dv] features.
  """
  log_mel, frames, has_audio, has_video = audio_and_video(batch, owner)

  audio = split_segments(log_mel, num_segments, f"{owner} log_mel")[..., None]
  video = split_segments(frames, num_segments, f"{owner} frames")
  if tile_video:
    b, s = video.shape[:2]
    video = tile_frames(video.reshape((b * s,) + video.shape[2:]))
    video = video.reshape((b, s) + video.shape[1:])

  audio_features = per_segment(audio_encoder, audio, train)
  video_features = per_segment(video_encoder, video, train)
  audio_features = FillMissing(name="audio_missing")(audio_features, has_audio)
  video_features = FillMissing(name="video_missing")(video_features, has_video)
  return jnp.concatenate([audio_features, video_features], axis=-1)
