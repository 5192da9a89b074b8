"""A small log-mel CNN whose time axis is pooled, not flattened: `cnn_pool`.

The study's CNNs flatten the last feature map, so every output weight belongs to
one moment of the window; a cry at another moment, or a sound never heard in
training, lands on weights that learned nothing about it. Here each time step
of the conv features is summarised over frequency and the steps are pooled,
by their mean or by learned attention weights (softmax over time), so the
model scores what is in the window wherever it is.
"""
from __future__ import annotations

from typing import ClassVar, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from babycry_jax import models
from babycry_jax.models.batch_inputs import Batch, read_input
from babycry_jax.models.encoders import DenseHead, max_pool

POOLINGS = ("attention", "mean")
# How the last feature map's frequency axis becomes one vector per time step: "mean" makes
# the model blind to where in the spectrum a pattern sits; "flatten" keeps every band's
# features apart, so the pitch and spectral place of a sound count (a cry's harmonics sit
# higher than a speaker's, lower than a bird's).
FREQUENCY_POOLINGS = ("mean", "flatten")


def pooled_log_mel_features(log_mel: jax.Array, *, input_pool: Sequence[int],
                            conv_features: Sequence[int], batch_norm: bool, pooling: str,
                            train: bool, bn_axis_name: str | None, dtype,
                            frequency_pooling: str = "mean",
                            context_kernels: Sequence[int] = ()) -> jax.Array:
  """[B, T, n_mels] -> [B, D]: the conv blocks, frequency pooling, temporal context, time pooling.

  Called inside a compact method: its layers (conv{i}, bn{i}, context{i}, attention) are
  the caller's, so cnn_pool and the audio branch of fusion_pool_3dcnn share names and can
  share weights.
  """
  if pooling not in POOLINGS:
    raise ValueError(f"cnn_pool: pooling must be one of {POOLINGS}, got {pooling!r}")
  if frequency_pooling not in FREQUENCY_POOLINGS:
    raise ValueError(f"cnn_pool: frequency_pooling must be one of {FREQUENCY_POOLINGS}, "
                     f"got {frequency_pooling!r}")
  x = log_mel[..., None].astype(dtype)
  x = nn.avg_pool(x, tuple(input_pool), strides=tuple(input_pool), padding="VALID")
  for i, channels in enumerate(conv_features):
    x = nn.Conv(channels, (3, 3), padding="SAME", dtype=dtype, name=f"conv{i}")(x)
    if batch_norm:
      x = nn.BatchNorm(use_running_average=not train, axis_name=bn_axis_name,
                       dtype=dtype, name=f"bn{i}")(x)
    x = max_pool(nn.relu(x), (2, 2), (2, 2))
  if frequency_pooling == "mean":
    steps = x.mean(axis=2)                                 # [B, T', C]
  else:
    steps = x.reshape(x.shape[:2] + (-1,))                 # [B, T', F' * C]
  # The conv blocks see about 0.4 s; 1-D convs over the steps let each step's features
  # know the second around it (how long a sound lasts, whether it repeats).
  for i, kernel in enumerate(context_kernels):
    steps = nn.relu(nn.Conv(steps.shape[-1], (kernel,), padding="SAME", dtype=dtype,
                            name=f"context{i}")(steps))
  if pooling == "mean":
    return steps.mean(axis=1)
  weights = nn.softmax(nn.Dense(1, dtype=dtype, name="attention")(steps), axis=1)
  return (weights * steps).sum(axis=1)


@models.register("cnn_pool")
class PooledCnn(nn.Module):
  """3x3 conv -> (BatchNorm) -> ReLU -> 2x2 max pool per block, frequency pooling, temporal
  context, time pooling.

  Attributes:
    input_pool: average-pooling window (= stride) over (time, mel) first: a
      CPU-sized network (300 x 128 -> 150 x 32 by default).
    conv_features: channels of each block.
    batch_norm: BatchNorm after each conv.
    pooling: "attention" or "mean" over time.
    frequency_pooling: "mean" or "flatten" (FREQUENCY_POOLINGS).
    context_kernels: kernel sizes of 1-D convs over the time steps before pooling (none: ()).
    dense_features, dropout_rates: the head after pooling.
    bn_axis_name: the device axis BatchNorm averages statistics over.
    dtype: computation dtype; parameters stay float32.
  """
  modalities: ClassVar[tuple[str, ...]] = ("audio",)
  input_pool: Sequence[int] = (2, 4)
  conv_features: Sequence[int] = (16, 32, 64)
  batch_norm: bool = False
  pooling: str = "attention"
  frequency_pooling: str = "mean"
  context_kernels: Sequence[int] = ()
  dense_features: Sequence[int] = (64,)
  dropout_rates: Sequence[float] = (0.2,)
  bn_axis_name: str | None = None
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, batch: Batch, train: bool = False) -> jax.Array:
    """batch["log_mel"] [B, T, n_mels] -> float32 logits [B, 2]."""
    pooled = pooled_log_mel_features(
        read_input(batch, "log_mel", "cnn_pool"), input_pool=self.input_pool,
        conv_features=self.conv_features, batch_norm=self.batch_norm, pooling=self.pooling,
        train=train, bn_axis_name=self.bn_axis_name, dtype=self.dtype,
        frequency_pooling=self.frequency_pooling, context_kernels=self.context_kernels)
    return DenseHead(self.dense_features, self.dropout_rates, dtype=self.dtype,
                     name="head")(pooled, train)
