"""fusion_pool_3dcnn on the embedded default, its audio branch starting from the shipped
model: a cnn_pool trained on real recordings (README, the real-world recipe).

The video branch and the head learn from the embedded default's generated media; the
audio branch starts knowing real sound (cries, speech, music, animals, household and
street noise) and is fine-tuned with the rest. For a user with real audio-video data:
  python -m babycry_jax.train --config configs/fusion_real_audio.py --workdir runs/mine \
      --config.dataset_dir=data/mine
"""
import ml_collections

from configs import fusion_pool_3dcnn


def get_config() -> ml_collections.ConfigDict:
  c = fusion_pool_3dcnn.get_config()
  c.warm_start = ml_collections.ConfigDict(dict(source="shipped", into="audio"))
  return c
