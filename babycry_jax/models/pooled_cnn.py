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


@models.register("cnn_pool")
class PooledCnn(nn.Module):
  """3x3 conv -> (BatchNorm) -> ReLU -> 2x2 max pool per block, mean over frequency, time pooling.

  Attributes:
    input_pool: average-pooling window (= stride) over (time, mel) first: a
      CPU-sized network (300 x 128 -> 150 x 32 by default).
    conv_features: channels of each block.
    batch_norm: BatchNorm after each conv.
    pooling: "attention" or "mean" over time.
    dense_features, dropout_rates: the head after pooling.
    bn_axis_name: the device axis BatchNorm averages statistics over.
    dtype: computation dtype; parameters stay float32.
  """
  modalities: ClassVar[tuple[str, ...]] = ("audio",)
  input_pool: Sequence[int] = (2, 4)
  conv_features: Sequence[int] = (16, 32, 64)
  batch_norm: bool = False
  pooling: str = "attention"
  dense_features: Sequence[int] = (64,)
  dropout_rates: Sequence[float] = (0.2,)
  bn_axis_name: str | None = None
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, batch: Batch, train: bool = False) -> jax.Array:
    """batch["log_mel"] [B, T, n_mels] -> float32 logits [B, 2]."""
    if self.pooling not in POOLINGS:
      raise ValueError(f"cnn_pool: pooling must be one of {POOLINGS}, got {self.pooling!r}")
    x = read_input(batch, "log_mel", "cnn_pool")[..., None].astype(self.dtype)
    x = nn.avg_pool(x, tuple(self.input_pool), strides=tuple(self.input_pool), padding="VALID")
    for i, channels in enumerate(self.conv_features):
      x = nn.Conv(channels, (3, 3), padding="SAME", dtype=self.dtype, name=f"conv{i}")(x)
      if self.batch_norm:
        x = nn.BatchNorm(use_running_average=not train, axis_name=self.bn_axis_name,
                         dtype=self.dtype, name=f"bn{i}")(x)
      x = max_pool(nn.relu(x), (2, 2), (2, 2))
    steps = x.mean(axis=2)                                   # [B, T', C]
    if self.pooling == "mean":
      pooled = steps.mean(axis=1)
    else:
      weights = nn.softmax(nn.Dense(1, dtype=self.dtype, name="attention")(steps), axis=1)
      pooled = (weights * steps).sum(axis=1)
    return DenseHead(self.dense_features, self.dropout_rates, dtype=self.dtype,
                     name="head")(pooled, train)
