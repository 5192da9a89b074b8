"""The study's 3D CNN on the video frames (its "3DCNN")."""
from __future__ import annotations

from typing import ClassVar, Sequence

import flax.linen as nn
import jax

from babycry_jax import models
from babycry_jax.models.batch_inputs import Batch, read_input
from babycry_jax.models.encoders import ConvEncoder, ConvNet, DenseHead


@models.register("c3d")
class C3d(ConvNet):
  """conv3d 32 3x3x3, pool (frames 1, H 2, W 2), conv3d 64 2x2x2, pool 2, conv3d 64 2x2x2,
  pool 2, dense 1000, dropout .1, dense 50, dense 2, on frames [B, T, H, W, C].

  The study put an L2 penalty of 0.005 on the first conv's kernel. The model
  does not add loss terms; configs/c3d.py approximates it with weight decay.

  Attributes:
    conv_features: channels of the three 3D convs.
    kernel_sizes: (frames, H, W) kernel of each conv.
    pool_windows: (frames, H, W) max-pool window after each conv.
    dense_features: widths of the hidden dense layers.
    dropout_rates: dropout after each hidden dense layer.
    (batch_norm, bn_axis_name, dtype: see ConvNet.)
  """
  modalities: ClassVar[tuple[str, ...]] = ("video",)
  conv_features: Sequence[int] = (32, 64, 64)
  kernel_sizes: Sequence[Sequence[int]] = ((3, 3, 3), (2, 2, 2), (2, 2, 2))
  pool_windows: Sequence[Sequence[int]] = ((1, 2, 2), (2, 2, 2), (2, 2, 2))
  dense_features: Sequence[int] = (1000, 50)
  dropout_rates: Sequence[float] = (0.1, 0.0)

  @nn.compact
  def __call__(self, batch: Batch, train: bool = False) -> jax.Array:
    """batch["frames"] [B, T, H, W, C] -> float32 logits [B, 2]."""
    frames = read_input(batch, "frames", "c3d")
    features = ConvEncoder(self.conv_features, self.kernel_sizes, self.pool_windows,
                           batch_norm=self.batch_norm, bn_axis_name=self.bn_axis_name,
                           dtype=self.dtype, name="frames_cnn")(frames, train)
    return DenseHead(self.dense_features, self.dropout_rates, dtype=self.dtype,
                     name="head")(features, train)
