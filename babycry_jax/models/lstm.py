"""The study's LSTM on the log-mel spectrogram read as a sequence of frames."""
from __future__ import annotations

from typing import Any, ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp

from babycry_jax import models
from babycry_jax.models.batch_inputs import Batch, read_input


@models.register("lstm")
class MelLstm(nn.Module):
  """LSTM (all steps) -> LSTM (last step) -> dense 2 over [B, T, n_mels] log-mel frames.

  Attributes:
    first_units: units of the first LSTM, which returns every step (50).
    second_units: units of the second LSTM, whose last output is kept (100).
    dtype: computation dtype; parameters stay float32.
  """
  modalities: ClassVar[tuple[str, ...]] = ("audio",)
  first_units: int = 50
  second_units: int = 100
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, batch: Batch, train: bool = False) -> jax.Array:
    """batch["log_mel"] [B, T, n_mels] -> float32 logits [B, 2]."""
    del train  # no dropout or BatchNorm
    x = read_input(batch, "log_mel", "lstm").astype(self.dtype)
    x = nn.RNN(nn.OptimizedLSTMCell(self.first_units, dtype=self.dtype), name="lstm1")(x)
    x = nn.RNN(nn.OptimizedLSTMCell(self.second_units, dtype=self.dtype), name="lstm2")(x)
    return nn.Dense(2, dtype=self.dtype, name="logits")(x[:, -1]).astype(jnp.float32)
