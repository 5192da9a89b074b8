"""The study's 3DCNN on 18 frames of 64x64 (validation F1 about 0.82): RMSprop, batch 20.

The study's L2 of 0.005 on the first conv kernel is approximated by weight
decay on all parameters (the model adds no loss terms). Full size; video only;
model_kwargs may shrink conv_features or dense_features (the 1000-unit dense
layer holds most of its 9.5M parameters).
"""
import ml_collections

from configs import default


def get_config() -> ml_collections.ConfigDict:
  return default.model_config(
      "c3d", optimizer="rmsprop", learning_rate=1e-4, batch_size=20, weight_decay=0.005)
