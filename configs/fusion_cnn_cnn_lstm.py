"""The study's CNN+CNN+LSTM fusion (validation F1 about 0.895): the CNN+CNN segment
features, LSTM 50 over the 3 segments, dropout .2, dense 2; RMSprop, LR on plateau.

The study's L1 of 0.01 on the last dense kernel is not reproduced (the model
adds no loss terms). Full size; model_kwargs may shrink conv_features,
segment_dense or lstm_units.
"""
import ml_collections

from configs import default


def get_config() -> ml_collections.ConfigDict:
  return default.model_config(
      "fusion_cnn_cnn_lstm", optimizer="rmsprop", learning_rate=1e-3, batch_size=32,
      lr_schedule="plateau")
