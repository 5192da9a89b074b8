"""Audio-video fusion whose audio branch is cnn_pool's: `fusion_pool_3dcnn`.

Its audio branch has exactly cnn_pool's layers (conv{i}, bn{i}, attention under
"audio"), so it can start from a cnn_pool trained on real recordings, such as
the shipped model (config.warm_start), while the video branch and the head
learn from audio-video data.
"""
from __future__ import annotations

from typing import ClassVar, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from babycry_jax import models
from babycry_jax.models.batch_inputs import Batch, audio_and_video
from babycry_jax.models.encoders import ConvEncoder, ConvNet, fused_logits
from babycry_jax.models.pooled_cnn import pooled_log_mel_features


class PooledAudioBranch(nn.Module):
  """cnn_pool without its head: [B, T, n_mels] -> [B, D]."""
  input_pool: Sequence[int]
  conv_features: Sequence[int]
  batch_norm: bool
  pooling: str
  frequency_pooling: str = "mean"
  context_kernels: Sequence[int] = ()
  bn_axis_name: str | None = None
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, log_mel: jax.Array, train: bool) -> jax.Array:
    return pooled_log_mel_features(
        log_mel, input_pool=self.input_pool, conv_features=self.conv_features,
        batch_norm=self.batch_norm, pooling=self.pooling, train=train,
        bn_axis_name=self.bn_axis_name, dtype=self.dtype,
        frequency_pooling=self.frequency_pooling, context_kernels=self.context_kernels)


class SmallVideoFusion(ConvNet):
  """The fields of a fusion model whose video branch is small_video_encoder and whose head is
  fused_logits (see FusionPool3dCnn)."""
  video_conv_features: Sequence[int] = (8, 16)
  video_input_pool: Sequence[int] = (1, 2, 2)
  video_dense: int = 64
  dense_features: Sequence[int] = (64,)
  dropout_rates: Sequence[float] = (0.2,)


def small_video_encoder(frames: jax.Array, model: SmallVideoFusion, train: bool) -> jax.Array:
  """[B, F, H, W, C] -> [B, video_dense]: the frames average-pooled, then 3D convs of
  model.video_conv_features (2x5x5, then 1x3x3) each max-pooled 2x2x2, then a dense layer.

  Called inside the compact method of `model`: its layers are the model's, under "video".
  """
  n_video = len(model.video_conv_features)
  return ConvEncoder(model.video_conv_features, [(2, 5, 5)] + [(1, 3, 3)] * (n_video - 1),
                     [(2, 2, 2)] * n_video, dense_features=model.video_dense,
                     input_pool=model.video_input_pool, batch_norm=model.batch_norm,
                     bn_axis_name=model.bn_axis_name, dtype=model.dtype, name="video")(frames, train)


@models.register("fusion_pool_3dcnn")
class FusionPool3dCnn(SmallVideoFusion):
  """cnn_pool's audio branch and a small 3D CNN on the frames, each filled in when its
  track is missing, concatenated, then a dense head.

  Attributes:
    audio_input_pool, audio_conv_features, pooling, audio_frequency_pooling,
      audio_context_kernels: the audio branch (as cnn_pool's input_pool, conv_features,
      pooling, frequency_pooling, context_kernels; BatchNorm follows batch_norm).
    video_conv_features: channels of the 3D CNN's convs.
    video_input_pool: (frames, H, W) average-pooling of the frames first.
    video_dense: width of the video branch's dense output.
    dense_features, dropout_rates: the head after the concatenation.
    (batch_norm, bn_axis_name, dtype: see ConvNet.)
  """
  modalities: ClassVar[tuple[str, ...]] = ("audio", "video")
  audio_input_pool: Sequence[int] = (2, 4)
  audio_conv_features: Sequence[int] = (16, 32, 64)
  pooling: str = "attention"
  audio_frequency_pooling: str = "mean"
  audio_context_kernels: Sequence[int] = ()

  @nn.compact
  def __call__(self, batch: Batch, train: bool = False) -> jax.Array:
    """log_mel [B, T, n_mels], frames [B, F, H, W, C], has_* [B] -> float32 logits [B, 2]."""
    owner = "fusion_pool_3dcnn"
    log_mel, frames, has_audio, has_video = audio_and_video(batch, owner)
    audio = PooledAudioBranch(self.audio_input_pool, self.audio_conv_features, self.batch_norm,
                              self.pooling, self.audio_frequency_pooling,
                              self.audio_context_kernels, self.bn_axis_name, self.dtype,
                              name="audio")(log_mel, train)
    video = small_video_encoder(frames, self, train)
    return fused_logits(audio, video, has_audio, has_video, self.dense_features,
                        self.dropout_rates, self.dtype, train)
