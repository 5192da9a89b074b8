"""cnn_pool's audio branch fused with a small 3D CNN on the frames (`fusion_pool_3dcnn`,
beyond the study), trained from scratch on the embedded default.

configs/fusion_real_audio.py trains the same model with its audio branch starting
from the shipped model `real_world_cnn_pool`, which learned from real recordings.
"""
import ml_collections

from configs import default


def get_config() -> ml_collections.ConfigDict:
  c = default.model_config("fusion_pool_3dcnn", optimizer="adam", learning_rate=1e-3,
                           batch_size=32, num_epochs=15)
  # The audio branch as configs/cnn_pool.py builds it; configs/fusion_real_audio.py builds
  # it as real_world_cnn_pool was instead.
  c.model_kwargs = ml_collections.ConfigDict(dict(batch_norm=True, pooling="attention"))
  return c
