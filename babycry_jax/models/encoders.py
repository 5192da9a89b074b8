"""Building blocks the study's models share: conv stacks, dense heads, segments, missing inputs.

Conventions (the study's Keras defaults): convolutions are unpadded ("valid"),
each is followed by ReLU and max pooling whose stride equals its window unless
given. 2D inputs are [N, time, mel, C]; 3D inputs are [N, frames, H, W, C],
so a 3D kernel written "5x5x2" in the study (H x W x frames) is (2, 5, 5) here.

A kernel or pooling window larger than its input is cut to the input's size,
so small test shapes still run; at the study's shapes nothing is cut.

Two choices keep XLA's CPU backend fast without changing the maths (measured
on 2 cores): max pooling is a maximum over strided slices, whose gradient is
3-4x cheaper than reduce_window's; and a 3D convolution is computed as a 2D
convolution over frames stacked in the channel axis, 2-5x faster than XLA's
CPU 3D convolution. Parameters have nn.Conv's layout either way.
"""
from __future__ import annotations

import itertools

from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

Dtype = Any


def _fit_window(window: Sequence[int], spatial: Sequence[int]) -> tuple[int, ...]:
  return tuple(max(1, min(w, d)) for w, d in zip(window, spatial))


def max_pool(x: jax.Array, window: Sequence[int], strides: Sequence[int]) -> jax.Array:
  """Unpadded max pooling as the maximum of strided slices: [N, *spatial, C] -> [N, *out, C].

  Same result as nn.max_pool(..., padding="VALID"), built from slices so the
  gradient avoids XLA's slow select-and-scatter on CPU.
  """
  spatial = x.shape[1:-1]
  out = [(d - w) // s + 1 for d, w, s in zip(spatial, window, strides)]
  result = None
  for offset in itertools.product(*(range(w) for w in window)):
    index = tuple(slice(o, o + (n - 1) * s + 1, s) for o, n, s in zip(offset, out, strides))
    part = x[(slice(None),) + index + (slice(None),)]
    result = part if result is None else jnp.maximum(result, part)
  return result


class ConvNet(nn.Module):
  """The fields every conv model of the study shares.

  Attributes:
    batch_norm: BatchNorm after each conv (not in the study).
    bn_axis_name: device axis for BatchNorm statistics (the parallel strategy's).
    dtype: computation dtype; parameters stay float32.
  """
  batch_norm: bool = False
  bn_axis_name: str | None = None
  dtype: Any = jnp.float32


class Conv3dAs2d(nn.Module):
  """Unpadded 3D convolution over [N, T, H, W, C], computed as a 2D one.

  Each output frame t sees frames t..t+kt-1; stacking them along channels turns
  the (kt, kh, kw) kernel into a (kh, kw) kernel over kt*C channels.

  Attributes:
    features: output channels.
    kernel_size: (kt, kh, kw).
    dtype: computation dtype; parameters stay float32.
  """
  features: int
  kernel_size: Sequence[int]
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    """[N, T, H, W, C] -> [N, T-kt+1, H-kh+1, W-kw+1, features]."""
    kt, kh, kw = self.kernel_size
    n, t, h, w, c = x.shape
    kernel = self.param("kernel", nn.initializers.lecun_normal(), (kt, kh, kw, c, self.features),
                        jnp.float32)
    bias = self.param("bias", nn.initializers.zeros, (self.features,), jnp.float32)
    out_t = t - kt + 1
    stacked = jnp.concatenate([x[:, i:i + out_t] for i in range(kt)], axis=-1)
    stacked = stacked.reshape(n * out_t, h, w, kt * c).astype(self.dtype)
    kernel_2d = kernel.transpose(1, 2, 0, 3, 4).reshape(kh, kw, kt * c, self.features)
    y = jax.lax.conv_general_dilated(stacked, kernel_2d.astype(self.dtype), (1, 1), "VALID",
                                     dimension_numbers=("NHWC", "HWIO", "NHWC"))
    y = y + bias.astype(self.dtype)
    return y.reshape((n, out_t) + y.shape[1:])


class ConvEncoder(nn.Module):
  """Conv -> (BatchNorm) -> ReLU -> max pool, repeated; then flatten and an optional dense.

  The number of spatial axes (2 or 3) follows from the kernel sizes.

  Attributes:
    features: output channels of each conv.
    kernel_sizes: one kernel per conv, over the spatial axes.
    pool_windows: one max-pool window per conv.
    pool_strides: one stride per pool; None uses the windows (non-overlapping).
    dense_features: width of a ReLU dense layer after flattening; None for none.
    input_pool: average-pooling window (= stride) applied to the input first,
      to shrink a network cheaply; None or all ones for none (the study).
    batch_norm: add BatchNorm after each conv (not in the study; off by default).
    bn_axis_name: the device axis BatchNorm averages statistics over.
    dtype: computation dtype; parameters stay float32.
  """
  features: Sequence[int]
  kernel_sizes: Sequence[Sequence[int]]
  pool_windows: Sequence[Sequence[int]]
  pool_strides: Sequence[Sequence[int]] | None = None
  dense_features: int | None = None
  input_pool: Sequence[int] | None = None
  batch_norm: bool = False
  bn_axis_name: str | None = None
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    """Maps [N, *spatial, C] to [N, D]."""
    strides = self.pool_strides or self.pool_windows
    if not (len(self.features) == len(self.kernel_sizes) == len(self.pool_windows)
            == len(strides)):
      raise ValueError(
          f"{self.name}: features {tuple(self.features)}, kernel_sizes {tuple(self.kernel_sizes)}, "
          f"pool_windows {tuple(self.pool_windows)} and pool_strides must have one entry per conv")
    num_spatial = len(self.kernel_sizes[0]) if self.kernel_sizes else x.ndim - 2
    if x.ndim != num_spatial + 2:
      raise ValueError(f"{self.name}: expected input [N, {num_spatial} spatial axes, C], "
                       f"got shape {x.shape}")
    x = x.astype(self.dtype)
    if self.input_pool and any(p > 1 for p in self.input_pool):
      pool = _fit_window(self.input_pool, x.shape[1:-1])
      x = nn.avg_pool(x, pool, strides=pool, padding="VALID")
    for i, channels in enumerate(self.features):
      spatial = x.shape[1:-1]
      kernel = _fit_window(self.kernel_sizes[i], spatial)
      if num_spatial == 3:
        x = Conv3dAs2d(channels, kernel, dtype=self.dtype, name=f"conv{i}")(x)
      else:
        x = nn.Conv(channels, kernel, padding="VALID", dtype=self.dtype, name=f"conv{i}")(x)
      if self.batch_norm:
        x = nn.BatchNorm(use_running_average=not train, axis_name=self.bn_axis_name,
                         dtype=self.dtype, name=f"bn{i}")(x)
      x = nn.relu(x)
      spatial = x.shape[1:-1]
      window = _fit_window(self.pool_windows[i], spatial)
      x = max_pool(x, window, _fit_window(strides[i], spatial))
    x = x.reshape(x.shape[0], -1)
    if self.dense_features:
      x = nn.relu(nn.Dense(self.dense_features, dtype=self.dtype, name="dense")(x))
    return x


class DenseHead(nn.Module):
  """ReLU dense layers, each followed by dropout of its rate, then the 2-way logits.

  Attributes:
    hidden: widths of the hidden layers.
    dropout_rates: one rate per hidden layer (0 for none).
    num_classes: logits per example.
    dtype: computation dtype; logits are returned as float32.
  """
  hidden: Sequence[int] = ()
  dropout_rates: Sequence[float] = ()
  num_classes: int = 2
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    """Maps [N, D] to float32 logits [N, num_classes]."""
    if len(self.hidden) != len(self.dropout_rates):
      raise ValueError(f"{self.name}: hidden {tuple(self.hidden)} and dropout_rates "
                       f"{tuple(self.dropout_rates)} must have the same length")
    x = x.astype(self.dtype)
    for i, (width, rate) in enumerate(zip(self.hidden, self.dropout_rates)):
      x = nn.relu(nn.Dense(width, dtype=self.dtype, name=f"dense{i}")(x))
      if rate > 0:
        x = nn.Dropout(rate, deterministic=not train)(x)
    return nn.Dense(self.num_classes, dtype=self.dtype, name="logits")(x).astype(jnp.float32)


class FillMissing(nn.Module):
  """Replaces the features of examples that lack a modality by a learned vector.

  The vector starts at zero, so an untrained model sees zeros for a missing
  modality; training with modality dropout teaches it a better stand-in.
  """

  @nn.compact
  def __call__(self, features: jax.Array, present: jax.Array) -> jax.Array:
    """features [B, ..., D], present [B] (1.0 = has the modality) -> same shape."""
    fill = self.param("fill", nn.initializers.zeros, features.shape[-1:], jnp.float32)
    mask = present.reshape((-1,) + (1,) * (features.ndim - 1)) > 0.5
    return jnp.where(mask, features, fill.astype(features.dtype))


def fused_logits(audio: jax.Array, video: jax.Array, has_audio: jax.Array, has_video: jax.Array,
                 dense_features: Sequence[int], dropout_rates: Sequence[float], dtype: Dtype,
                 train: bool) -> jax.Array:
  """Each modality's features [B, D] filled in where its track is missing, side by side, through
  a dense head: float32 logits [B, 2].

  Called inside a compact method: its layers (audio_missing, video_missing, head) are the caller's.
  """
  audio = FillMissing(name="audio_missing")(audio, has_audio)
  video = FillMissing(name="video_missing")(video, has_video)
  return DenseHead(dense_features, dropout_rates, dtype=dtype,
                   name="head")(jnp.concatenate([audio, video], axis=-1), train)


def blank_missing(x: jax.Array, present: jax.Array) -> jax.Array:
  """Zeros the inputs of examples without the modality, so NaN or junk there cannot leak.

  x [B, ...], present [B] -> x with absent examples set to 0.
  """
  mask = present.reshape((-1,) + (1,) * (x.ndim - 1)) > 0.5
  return jnp.where(mask, x, jnp.zeros((), x.dtype))


def split_segments(x: jax.Array, num_segments: int, what: str) -> jax.Array:
  """Cuts the time axis into equal consecutive segments: [B, T, ...] -> [B, S, T/S, ...].

  Raises:
    ValueError: when T is not a multiple of num_segments (`what` names the input).
  """
  length = x.shape[1]
  if num_segments < 1 or length % num_segments:
    raise ValueError(f"{what}: {length} time steps cannot be cut into {num_segments} equal "
                     "segments; choose audio_frames/video_frames divisible by num_segments")
  return x.reshape((x.shape[0], num_segments, length // num_segments) + x.shape[2:])


def tile_frames(frames: jax.Array) -> jax.Array:
  """Lays frames side by side into one image: [N, T, H, W, C] -> [N, H, T*W, C]."""
  n, t, h, w, c = frames.shape
  return frames.transpose(0, 2, 1, 3, 4).reshape(n, h, t * w, c)


def per_segment(encoder: nn.Module, segments: jax.Array, train: bool) -> jax.Array:
  """Runs one encoder (shared weights) on every segment: [B, S, ...] -> [B, S, D]."""
  b, s = segments.shape[:2]
  features = encoder(segments.reshape((b * s,) + segments.shape[2:]), train)
  return features.reshape(b, s, -1)
