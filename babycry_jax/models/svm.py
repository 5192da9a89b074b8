"""The study's linear SVM on MFCC statistics, as a one-unit linear model.

The trainer's hinge loss reads the margin f = logits[:, 1] - logits[:, 0] with
labels in {-1, +1} and adds the L2 penalty of the SVM's C (0.6 in the study)
itself; the model only supplies f.
"""
from __future__ import annotations

from typing import Any, ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp

from babycry_jax import models
from babycry_jax.models.batch_inputs import Batch, read_input


@models.register("svm")
class LinearSvm(nn.Module):
  """f = w . mfcc_stats + b, returned as logits [-f/2, f/2] so the margin is f.

  Attributes:
    dtype: computation dtype; parameters stay float32.
  """
  modalities: ClassVar[tuple[str, ...]] = ("audio",)
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, batch: Batch, train: bool = False) -> jax.Array:
    """batch["mfcc_stats"] [B, 78] -> float32 logits [B, 2]."""
    del train  # no dropout or BatchNorm
    stats = read_input(batch, "mfcc_stats", "svm").astype(self.dtype)
    score = nn.Dense(1, dtype=self.dtype, name="linear")(stats).astype(jnp.float32)
    return jnp.concatenate([-0.5 * score, 0.5 * score], axis=-1)
