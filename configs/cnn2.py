"""The study's CNN2 on the log-mel: conv32 3x3, pool 4, conv4 3x3, pool 2, dense 500, dropout .1, dense 50, dense 2.

The study's network at full size (model_kwargs may shrink conv_features or
dense_features). It reads audio only.
"""
import ml_collections

from configs import default


def get_config() -> ml_collections.ConfigDict:
  return default.model_config(
      "cnn2", optimizer="adam", learning_rate=1e-3, batch_size=32)
