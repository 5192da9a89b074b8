"""fusion_yamnet_3dcnn on the embedded default: YAMNet as the ear (pretrained on AudioSet,
frozen), a small 3D CNN on the frames, a dense head trained on the embedded default.

For a user with real audio-video data:
  python -m babycry_jax.train --config configs/fusion_yamnet_3dcnn.py --workdir runs/mine \
      --config.dataset_dir=data/mine
"""
import ml_collections

from configs import default


def get_config() -> ml_collections.ConfigDict:
  c = default.model_config("fusion_yamnet_3dcnn", optimizer="adam", learning_rate=1e-3,
                           batch_size=32, num_epochs=15)
  c.model_kwargs = ml_collections.ConfigDict(dict(batch_norm=True))
  c.warm_start = ml_collections.ConfigDict(dict(source="yamnet", into="yamnet"))
  return c
