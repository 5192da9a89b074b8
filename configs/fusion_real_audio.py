"""fusion_pool_3dcnn on the embedded default, its audio branch starting from the shipped
model: a cnn_pool trained on real recordings (README, the real-world recipe).

The video branch and the head learn from the embedded default's generated media; the
audio branch starts knowing real sound (cries, speech, music, animals, household and
street noise) and is fine-tuned with the rest. For a user with real audio-video data:
  python -m babycry_jax.train --config configs/fusion_real_audio.py --workdir runs/mine \
      --config.dataset_dir=data/mine
"""
import ml_collections

from babycry_jax import shipped_model
from babycry_jax.models.pooled_fusion import audio_branch_kwargs
from configs import fusion_pool_3dcnn


def get_config() -> ml_collections.ConfigDict:
  c = fusion_pool_3dcnn.get_config()
  c.warm_start = ml_collections.ConfigDict(dict(source="shipped", into="audio"))
  # The audio branch is built as the shipped cnn_pool was, so that its weights fit.
  c.model_kwargs.update(audio_branch_kwargs(shipped_model.read_config().model_kwargs.to_dict()))
  return c
