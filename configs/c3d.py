"""The study's 3DCNN on 18 frames of 64x64 (validation F1 about 0.82): RMSprop, batch 20.

The study's L2 of 0.005 on the first conv kernel is approximated by weight
decay on all parameters (the model adds no loss terms). Full size; video only;
model_kwargs may shrink conv_features or dense_features (the 1000-unit dense
layer holds most of its 9.5M parameters).
"""
import ml_collections

from configs import default


def get_config() -> ml_collections.ConfigDict:
  c = default.get_config()
  c.model = "c3d"
  c.model_kwargs = ml_collections.ConfigDict()
  c.optimizer = "rmsprop"
  c.learning_rate = 1e-4
  c.weight_decay = 0.005
  c.batch_size = 20
  c.num_epochs = 20
  return c
