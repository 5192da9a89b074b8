"""A small log-mel CNN with attention pooling over time (`cnn_pool`, beyond the study), on the
embedded default. configs/real_world.py trains the same model on real recordings.

`--config.model_kwargs.pooling=mean` pools by the mean instead.
"""
import ml_collections

from configs import default


def get_config() -> ml_collections.ConfigDict:
  c = default.model_config("cnn_pool", optimizer="adam", learning_rate=1e-3, batch_size=32,
                           num_epochs=12)
  c.model_kwargs = ml_collections.ConfigDict(dict(pooling="attention", batch_norm=True))
  return c
