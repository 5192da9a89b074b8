"""fusion_pool_3dcnn on the embedded default, its audio branch starting from the shipped
model `real_world_cnn_pool`: a cnn_pool trained on real recordings (docs/real_world.md).

The video branch and the head learn from the embedded default's generated media; the
audio branch starts knowing real sound (cries, speech, music, animals, household and
street noise) and is fine-tuned with the rest. For a user with real audio-video data:
  python -m babycry_jax.train --config configs/fusion_real_audio.py --workdir runs/mine \
      --config.dataset_dir=data/mine
"""
import ml_collections

from configs import fusion_pool_3dcnn, real_world

# cnn_pool's arguments that shape its layers, by their names in fusion_pool_3dcnn.
_AUDIO_BRANCH = {"input_pool": "audio_input_pool", "conv_features": "audio_conv_features",
                 "pooling": "pooling", "frequency_pooling": "audio_frequency_pooling",
                 "context_kernels": "audio_context_kernels", "batch_norm": "batch_norm"}


def get_config() -> ml_collections.ConfigDict:
  c = fusion_pool_3dcnn.get_config()
  c.warm_start = ml_collections.ConfigDict(dict(source="shipped:real_world_cnn_pool", into="audio"))
  # The audio branch is built as configs/real_world.py built real_world_cnn_pool, so that its
  # weights fit (warm start names any layer that does not).
  for name, value in real_world.get_config().model_kwargs.items():
    if name in _AUDIO_BRANCH:
      c.model_kwargs[_AUDIO_BRANCH[name]] = value
  return c
