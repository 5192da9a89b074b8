"""Attention-bottleneck fusion: audio and video transformers that share only a few tokens.

Beyond the study. Each modality has its own tokenizer and transformer layers.
Up to `fusion_layer` the two streams are independent; from there on each
stream attends over its own tokens plus `num_bottleneck` shared bottleneck
tokens, and the bottleneck tokens the two streams return are averaged. All
cross-modal information therefore passes through those few tokens, which keeps
fusion cheap and forces each modality to summarise what the other needs.
A modality an example lacks is left out of that average and of the final
logits, so the model runs on clips with one track.
"""
from __future__ import annotations

from typing import Any, ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp

from babycry_jax import models
from babycry_jax.models.batch_inputs import Batch, audio_and_video
from babycry_jax.models.encoders import Dtype

_TOKEN_INIT = nn.initializers.normal(stddev=0.02)


class EncoderBlock(nn.Module):
  """Pre-LayerNorm transformer block: self-attention and a GELU MLP, each residual."""
  num_heads: int
  mlp_dim: int
  dropout_rate: float = 0.0
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    """[B, N, D] -> [B, N, D]."""
    y = nn.LayerNorm(dtype=self.dtype)(x)
    y = nn.MultiHeadDotProductAttention(self.num_heads, dtype=self.dtype,
                                        deterministic=not train)(y, y)
    x = x + nn.Dropout(self.dropout_rate, deterministic=not train)(y)
    y = nn.LayerNorm(dtype=self.dtype)(x)
    y = nn.Dense(self.mlp_dim, dtype=self.dtype)(y)
    y = nn.Dense(x.shape[-1], dtype=self.dtype)(nn.gelu(y))
    return x + nn.Dropout(self.dropout_rate, deterministic=not train)(y)


class AudioTokenizer(nn.Module):
  """Log-mel [B, T, M] -> [B, num_tokens, width] time tokens.

  A strided conv stem (2x in time, 4x in mel) then one linear embedding per
  equal stretch of time.
  """
  num_tokens: int
  width: int
  stem_channels: int = 16
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, log_mel: jax.Array) -> jax.Array:
    x = nn.Conv(self.stem_channels, (5, 5), strides=(2, 4), dtype=self.dtype,
                name="stem")(log_mel[..., None].astype(self.dtype))
    x = nn.gelu(x)
    b, t = x.shape[:2]
    if t < self.num_tokens:
      raise ValueError(f"fusion_bottleneck: {log_mel.shape[1]} audio frames give {t} stem "
                       f"steps, fewer than audio_tokens={self.num_tokens}")
    per_token = t // self.num_tokens
    x = x[:, :per_token * self.num_tokens].reshape(b, self.num_tokens, -1)
    return nn.Dense(self.width, dtype=self.dtype, name="embed")(x)


class VideoTokenizer(nn.Module):
  """Frames [B, F, H, W, C] -> [B, F / tubelet_frames, width] tokens, one per frame group.

  A 3D conv over each group of `tubelet_frames` frames (stride 2 in space), a
  second strided conv, then mean and max over space.
  """
  tubelet_frames: int
  width: int
  stem_channels: int = 16
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, frames: jax.Array) -> jax.Array:
    t = frames.shape[1]
    if t < self.tubelet_frames:
      raise ValueError(f"fusion_bottleneck: {t} video frames, fewer than "
                       f"tubelet_frames={self.tubelet_frames}")
    # Non-overlapping frame groups: stacking a group's frames along channels makes
    # the tubelet conv a 2D one, much faster than XLA's CPU 3D convolution.
    b, c = frames.shape[0], frames.shape[-1]
    groups = t // self.tubelet_frames
    x = frames[:, :groups * self.tubelet_frames].astype(self.dtype)
    x = x.reshape((b, groups, self.tubelet_frames) + frames.shape[2:4] + (c,))
    x = x.transpose(0, 1, 3, 4, 2, 5).reshape(
        (b * groups,) + frames.shape[2:4] + (self.tubelet_frames * c,))
    x = nn.gelu(nn.Conv(self.stem_channels, (5, 5), strides=(2, 2), dtype=self.dtype,
                        name="stem")(x))
    x = nn.gelu(nn.Conv(2 * self.stem_channels, (3, 3), strides=(2, 2), dtype=self.dtype,
                        name="conv")(x))
    x = x.reshape((b, groups) + x.shape[1:])
    pooled = jnp.concatenate([x.mean(axis=(2, 3)), x.max(axis=(2, 3))], axis=-1)
    return nn.Dense(self.width, dtype=self.dtype, name="embed")(pooled)


@models.register("fusion_bottleneck")
class FusionBottleneck(nn.Module):
  """Audio and video transformers fused through shared bottleneck tokens; CLS logits averaged.

  Attributes:
    width: token width.
    num_layers: transformer layers per modality.
    fusion_layer: first layer that exchanges bottleneck tokens (0 = all,
      num_layers = none).
    num_heads: attention heads.
    mlp_dim: hidden width of each block's MLP.
    num_bottleneck: shared bottleneck tokens.
    audio_tokens: time tokens the log-mel becomes.
    tubelet_frames: video frames per video token.
    dropout_rate: dropout on each residual branch.
    dtype: computation dtype; parameters stay float32.
  """
  modalities: ClassVar[tuple[str, ...]] = ("audio", "video")
  width: int = 64
  num_layers: int = 3
  fusion_layer: int = 1
  num_heads: int = 4
  mlp_dim: int = 128
  num_bottleneck: int = 4
  audio_tokens: int = 15
  tubelet_frames: int = 2
  dropout_rate: float = 0.1
  dtype: Any = jnp.float32

  def _with_cls_and_positions(self, tokens: jax.Array, name: str) -> jax.Array:
    b, n, d = tokens.shape
    cls = self.param(f"{name}_cls", _TOKEN_INIT, (1, 1, d), jnp.float32)
    positions = self.param(f"{name}_positions", _TOKEN_INIT, (1, n + 1, d), jnp.float32)
    x = jnp.concatenate([jnp.broadcast_to(cls.astype(tokens.dtype), (b, 1, d)), tokens], axis=1)
    return x + positions.astype(tokens.dtype)

  @nn.compact
  def __call__(self, batch: Batch, train: bool = False) -> jax.Array:
    """log_mel [B, T, n_mels], frames [B, F, H, W, C], has_* [B] -> float32 logits [B, 2]."""
    if not 0 <= self.fusion_layer <= self.num_layers:
      raise ValueError(f"fusion_bottleneck: fusion_layer={self.fusion_layer} must be in "
                       f"[0, num_layers={self.num_layers}]")
    owner = "fusion_bottleneck"
    log_mel, frames, has_audio, has_video = audio_and_video(batch, owner)
    present = {"audio": has_audio, "video": has_video}
    streams = {
        "audio": AudioTokenizer(self.audio_tokens, self.width, dtype=self.dtype,
                                name="audio_tokenizer")(log_mel),
        "video": VideoTokenizer(self.tubelet_frames, self.width, dtype=self.dtype,
                                name="video_tokenizer")(frames),
    }
    streams = {m: self._with_cls_and_positions(x, m) for m, x in streams.items()}
    b = log_mel.shape[0]

    # Weights [B, 1, 1] of each modality in the bottleneck average.
    weights = {m: present[m].astype(self.dtype)[:, None, None] for m in self.modalities}
    total = sum(weights.values())
    bottleneck = self.param("bottleneck", _TOKEN_INIT, (1, self.num_bottleneck, self.width),
                            jnp.float32)
    bottleneck = jnp.broadcast_to(bottleneck.astype(self.dtype),
                                  (b, self.num_bottleneck, self.width))

    for layer in range(self.num_layers):
      blocks = {m: EncoderBlock(self.num_heads, self.mlp_dim, self.dropout_rate, self.dtype,
                                name=f"{m}_block{layer}") for m in self.modalities}
      if layer < self.fusion_layer:
        streams = {m: blocks[m](x, train) for m, x in streams.items()}
        continue
      updates = {}
      for m, x in streams.items():
        n = x.shape[1]
        y = blocks[m](jnp.concatenate([x, bottleneck], axis=1), train)
        streams[m], updates[m] = y[:, :n], y[:, n:]
      mixed = sum(weights[m] * updates[m] for m in self.modalities)
      # With neither modality present the bottleneck is left as it was.
      bottleneck = jnp.where(total > 0, mixed / jnp.maximum(total, 1), bottleneck)

    logits = {}
    for m, x in streams.items():
      cls = nn.LayerNorm(dtype=self.dtype, name=f"{m}_norm")(x[:, 0])
      logits[m] = nn.Dense(2, dtype=self.dtype, name=f"{m}_logits")(cls).astype(jnp.float32)
    weights_2d = {m: present[m][:, None] for m in self.modalities}
    total_2d = sum(weights_2d.values())
    return sum(weights_2d[m] * logits[m] for m in self.modalities) / jnp.maximum(total_2d, 1.0)
