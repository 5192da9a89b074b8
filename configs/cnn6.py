"""The study's CNN6 on the log-mel: conv 32/32/16/16/16 3x3 each + pool 2, dense 500, dense 50, dense 2; F1 0.83-0.87 in the study.

The study's network at full size (model_kwargs may shrink conv_features or
dense_features). It reads audio only.
"""
import ml_collections

from configs import default


def get_config() -> ml_collections.ConfigDict:
  return default.model_config(
      "cnn6", optimizer="adam", learning_rate=1e-3, batch_size=32)
