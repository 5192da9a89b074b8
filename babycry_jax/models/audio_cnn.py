"""The study's 2D CNNs on the log-mel spectrogram: CNN2, CNN4 and CNN6.

The log-mel [B, T, n_mels] gets a channel axis and goes through 3x3 valid
convolutions with max pooling, then dense 500 -> (dropout) -> dense 50 -> 2.
"""
from __future__ import annotations

from typing import ClassVar, Sequence

import flax.linen as nn
import jax

from babycry_jax import models
from babycry_jax.models.batch_inputs import Batch, read_input
from babycry_jax.models.encoders import ConvEncoder, ConvNet, DenseHead


class _MelCnn(ConvNet):
  """Conv stack over the log-mel image and a dense head.

  Attributes:
    conv_features: channels of each 3x3 conv.
    pool_sizes: square max-pool window after each conv.
    dense_features: widths of the hidden dense layers.
    dropout_rates: dropout after each hidden dense layer.
    (batch_norm, bn_axis_name, dtype: see ConvNet.)
  """
  modalities: ClassVar[tuple[str, ...]] = ("audio",)
  conv_features: Sequence[int] = ()
  pool_sizes: Sequence[int] = ()
  dense_features: Sequence[int] = (500, 50)
  dropout_rates: Sequence[float] = (0.1, 0.0)

  @nn.compact
  def __call__(self, batch: Batch, train: bool = False) -> jax.Array:
    """batch["log_mel"] [B, T, n_mels] -> float32 logits [B, 2]."""
    if len(self.pool_sizes) != len(self.conv_features):
      raise ValueError(f"{type(self).__name__}: conv_features {tuple(self.conv_features)} and "
                       f"pool_sizes {tuple(self.pool_sizes)} need one entry per conv")
    log_mel = read_input(batch, "log_mel", type(self).__name__)
    features = ConvEncoder(
        features=self.conv_features,
        kernel_sizes=[(3, 3)] * len(self.conv_features),
        pool_windows=[(p, p) for p in self.pool_sizes],
        batch_norm=self.batch_norm, bn_axis_name=self.bn_axis_name, dtype=self.dtype,
        name="mel_cnn")(log_mel[..., None], train)
    return DenseHead(self.dense_features, self.dropout_rates, dtype=self.dtype,
                     name="head")(features, train)


@models.register("cnn2")
class Cnn2(_MelCnn):
  """conv32 3x3, pool 4, conv4 3x3, pool 2, dense 500, dropout .1, dense 50, dense 2."""
  conv_features: Sequence[int] = (32, 4)
  pool_sizes: Sequence[int] = (4, 2)


@models.register("cnn4")
class Cnn4(_MelCnn):
  """conv 8/16/16/32 3x3 each + pool 2, dense 500, dropout .1, dense 50, dense 2."""
  conv_features: Sequence[int] = (8, 16, 16, 32)
  pool_sizes: Sequence[int] = (2, 2, 2, 2)


@models.register("cnn6")
class Cnn6(_MelCnn):
  """conv 32/32/16/16/16 3x3 each + pool 2, dense 500, dense 50, dense 2 (no dropout)."""
  conv_features: Sequence[int] = (32, 32, 16, 16, 16)
  pool_sizes: Sequence[int] = (2, 2, 2, 2, 2)
  dropout_rates: Sequence[float] = (0.0, 0.0)
