"""The study's CNN4 on the log-mel: conv 8/16/16/32 3x3 each + pool 2, dense 500, dropout .1, dense 50, dense 2.

The study's network at full size (model_kwargs may shrink conv_features or
dense_features). It reads audio only.
"""
import ml_collections

from configs import default


def get_config() -> ml_collections.ConfigDict:
  return default.model_config(
      "cnn4", optimizer="adam", learning_rate=1e-3, batch_size=32)
