"""The study's audio-video fusion models with a dense head: CNN+CNN+FC and CNN+3DCNN+FC."""
from __future__ import annotations

from typing import ClassVar, Sequence

import flax.linen as nn
import jax

from babycry_jax import models
from babycry_jax.models.batch_inputs import Batch, audio_and_video
from babycry_jax.models.encoders import ConvEncoder, ConvNet, DenseHead, fused_logits
from babycry_jax.models.segment_fusion import segment_features, tiled_cnn


@models.register("fusion_cnn_cnn_fc")
class FusionCnnCnnFc(ConvNet):
  """Per segment, a 2D CNN on the log-mel and one on the frames tiled side by side; all
  segment features concatenated, then dense 100, dropout .1, dense 50, dense 2.

  Each 2D CNN is conv32 5x5, pool 3 stride 2, conv8 5x5, pool 3 stride 2, dense 256;
  at the study's shapes a segment is mel 100x128 and 6 frames tiled to 64x384.
  One CNN per modality is shared by all segments.

  Attributes:
    num_segments: equal parts the clip is cut into (3).
    conv_features: channels of the two convs of each CNN.
    segment_dense: width of each CNN's dense output.
    dense_features: widths of the hidden layers after the concatenation.
    dropout_rates: dropout after each of those layers.
    (batch_norm, bn_axis_name, dtype: see ConvNet.)
  """
  modalities: ClassVar[tuple[str, ...]] = ("audio", "video")
  num_segments: int = 3
  conv_features: Sequence[int] = (32, 8)
  segment_dense: int = 256
  dense_features: Sequence[int] = (100, 50)
  dropout_rates: Sequence[float] = (0.1, 0.0)

  @nn.compact
  def __call__(self, batch: Batch, train: bool = False) -> jax.Array:
    """log_mel [B, T, n_mels], frames [B, F, H, W, C], has_* [B] -> float32 logits [B, 2]."""
    encoders = [tiled_cnn(self.conv_features, self.segment_dense, name, self.batch_norm,
                          self.bn_axis_name, self.dtype) for name in ("audio_cnn", "video_cnn")]
    features = segment_features(batch, "fusion_cnn_cnn_fc", *encoders, self.num_segments,
                                tile_video=True, train=train)
    features = features.reshape(features.shape[0], -1)
    return DenseHead(self.dense_features, self.dropout_rates, dtype=self.dtype,
                     name="head")(features, train)


@models.register("fusion_cnn_3dcnn_fc")
class FusionCnn3dCnnFc(ConvNet):
  """A 2D CNN on the whole log-mel and a 3D CNN on all frames, concatenated, dense 10, dense 2.

  2D CNN: conv32 5x5, pool 3, conv64 5x5, pool 3, dense 256 (on mel 300x128).
  3D CNN: conv3d 32 5x5x3, pool 3, conv3d 64 3x3x3, pool 3, dense 256 (on 18x64x64).

  Attributes:
    audio_conv_features: channels of the 2D CNN's convs.
    video_conv_features: channels of the 3D CNN's convs.
    branch_dense: width of each branch's dense output.
    dense_features: widths of the hidden layers after the concatenation.
    dropout_rates: dropout after each of those layers.
    (batch_norm, bn_axis_name, dtype: see ConvNet.)
  """
  modalities: ClassVar[tuple[str, ...]] = ("audio", "video")
  audio_conv_features: Sequence[int] = (32, 64)
  video_conv_features: Sequence[int] = (32, 64)
  branch_dense: int = 256
  dense_features: Sequence[int] = (10,)
  dropout_rates: Sequence[float] = (0.0,)

  @nn.compact
  def __call__(self, batch: Batch, train: bool = False) -> jax.Array:
    """log_mel [B, T, n_mels], frames [B, F, H, W, C], has_* [B] -> float32 logits [B, 2]."""
    owner = "fusion_cnn_3dcnn_fc"
    log_mel, frames, has_audio, has_video = audio_and_video(batch, owner)
    norm = dict(batch_norm=self.batch_norm, bn_axis_name=self.bn_axis_name, dtype=self.dtype)
    n_audio, n_video = len(self.audio_conv_features), len(self.video_conv_features)
    audio = ConvEncoder(self.audio_conv_features, [(5, 5)] * n_audio, [(3, 3)] * n_audio,
                        dense_features=self.branch_dense, name="audio_cnn",
                        **norm)(log_mel[..., None], train)
    video = ConvEncoder(self.video_conv_features, [(3, 5, 5)] + [(3, 3, 3)] * (n_video - 1),
                        [(3, 3, 3)] * n_video, dense_features=self.branch_dense,
                        name="video_cnn", **norm)(frames, train)
    return fused_logits(audio, video, has_audio, has_video, self.dense_features,
                        self.dropout_rates, self.dtype, train)
