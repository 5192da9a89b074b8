"""The study's best model, CNN+3DCNN+LSTM (validation F1 about 0.905): per segment a 2D
CNN on the mel and a 3D CNN on the frames, LSTM 50 over the 3 segments, dropout .2,
dense 2; RMSprop, batch 32 (the study trained 100 epochs).

model_kwargs is empty, so this runs the registered "small" size, sized for the
embedded default on a CPU. The study's network: `--config.model_kwargs.size=paper`
(or set it below); any single setting such as video_conv_features also overrides.
"""
import ml_collections

from configs import default


def get_config() -> ml_collections.ConfigDict:
  return default.model_config(
      "fusion_cnn_3dcnn_lstm", optimizer="rmsprop", learning_rate=1e-3, batch_size=32,
      lr_schedule="plateau", model_kwargs=ml_collections.ConfigDict(dict(size="small")))
