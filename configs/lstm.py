"""The study's LSTM on the log-mel as 300 steps x 128 bands: LSTM 50 (all steps),
LSTM 100, dense 2 (validation F1 about 0.85 in the study). Full size; audio only."""
import ml_collections

from configs import default


def get_config() -> ml_collections.ConfigDict:
  c = default.get_config()
  c.model = "lstm"
  c.model_kwargs = ml_collections.ConfigDict()
  c.optimizer = "adam"
  c.learning_rate = 1e-3
  c.grad_clip_norm = 1.0  # recurrent nets over 300 steps: keep rare large gradients in check
  c.batch_size = 32
  c.num_epochs = 20
  return c
