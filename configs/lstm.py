"""The study's LSTM on the log-mel as 300 steps x 128 bands: LSTM 50 (all steps),
LSTM 100, dense 2 (validation F1 about 0.85 in the study). Full size; audio only."""
import ml_collections

from configs import default


def get_config() -> ml_collections.ConfigDict:
  # Recurrent nets over 300 steps: clipping keeps rare large gradients in check.
  return default.model_config(
      "lstm", optimizer="adam", learning_rate=1e-3, batch_size=32, grad_clip_norm=1.0)
