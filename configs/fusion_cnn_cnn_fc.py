"""The study's CNN+CNN+FC fusion (validation F1 about 0.87): per segment a 2D CNN on the
mel and one on the tiled frames, dense 100/50/2; Adam, batch 64.

Full size; model_kwargs may shrink conv_features, segment_dense or dense_features.
"""
import ml_collections

from configs import default


def get_config() -> ml_collections.ConfigDict:
  return default.model_config(
      "fusion_cnn_cnn_fc", optimizer="adam", learning_rate=1e-3, batch_size=64)
