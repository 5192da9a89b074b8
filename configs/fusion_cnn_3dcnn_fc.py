"""The study's CNN+3DCNN+FC fusion (validation F1 about 0.89): a 2D CNN on the whole mel
and a 3D CNN on all frames, concatenated, dense 10, dense 2; Adam, batch 20.

Full size; model_kwargs may shrink audio_conv_features, video_conv_features or
branch_dense.
"""
import ml_collections

from configs import default


def get_config() -> ml_collections.ConfigDict:
  return default.model_config(
      "fusion_cnn_3dcnn_fc", optimizer="adam", learning_rate=1e-3, batch_size=20)
