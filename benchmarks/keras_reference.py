"""The study's Keras models, timed as training baselines. Runs ONLY in the TensorFlow venv.

    <tf venv>/bin/python -m benchmarks.keras_reference --spec '{"model": "cnn6", ...}'

benchmarks/train_throughput.py starts this module through benchmarks/tf_env.py;
it never runs in the project's own process (TensorFlow and the project's
`tfrecord` cannot share one). It builds the named model at the shapes in
--spec, compiles it with the config's optimizer the way the study did
(`model.compile` defaults: graph mode, no XLA on a CPU-only machine), trains it
on one fixed random batch under benchmarks.Protocol and prints one JSON line.

Layouts follow our Flax models so that both sides compute the same network:
log-mel [B, T, mels, 1], frames [B, T, H, W, 1], 3D kernels and pools as
(frames, H, W), "valid" convolutions, ReLU, non-overlapping max pooling.
"""
from __future__ import annotations

from typing import Any

from benchmarks import Protocol, reference_command, time_calls


def _configure_threads(threads: int) -> None:
  import tensorflow as tf
  # Every core for the work inside an op (as XLA's CPU backend does by default).
  tf.config.threading.set_intra_op_parallelism_threads(threads)
  tf.config.threading.set_inter_op_parallelism_threads(threads)


def _conv_stack(keras, x, features, kernels, pools, name: str):
  """Conv -> ReLU -> max pool per entry; Conv2D or Conv3D by the kernel's rank."""
  layers = keras.layers
  for i, (channels, kernel, pool) in enumerate(zip(features, kernels, pools)):
    conv = layers.Conv3D if len(kernel) == 3 else layers.Conv2D
    pool_layer = layers.MaxPooling3D if len(kernel) == 3 else layers.MaxPooling2D
    x = conv(channels, kernel, activation="relu", name=f"{name}_conv{i}")(x)
    x = pool_layer(pool, name=f"{name}_pool{i}")(x)
  return layers.Flatten(name=f"{name}_flatten")(x)


def cnn6(keras, spec: dict[str, Any]):
  """conv 32/32/16/16/16 3x3 each + pool 2, dense 500, dense 50, dense 2."""
  layers = keras.layers
  log_mel = keras.Input((spec["audio_frames"], spec["n_mels"]), name="log_mel")
  x = layers.Reshape((spec["audio_frames"], spec["n_mels"], 1))(log_mel)
  x = _conv_stack(keras, x, (32, 32, 16, 16, 16), [(3, 3)] * 5, [(2, 2)] * 5, "mel")
  x = layers.Dense(500, activation="relu")(x)
  x = layers.Dense(50, activation="relu")(x)
  return keras.Model(log_mel, layers.Dense(2)(x), name="cnn6")


def lstm(keras, spec: dict[str, Any]):
  """LSTM 50 (all steps), LSTM 100 (last step), dense 2 on [B, 300, 128]."""
  layers = keras.layers
  log_mel = keras.Input((spec["audio_frames"], spec["n_mels"]), name="log_mel")
  x = layers.LSTM(50, return_sequences=True)(log_mel)
  x = layers.LSTM(100)(x)
  return keras.Model(log_mel, layers.Dense(2)(x), name="lstm")


def c3d(keras, spec: dict[str, Any]):
  """conv3d 32 3x3x3 (L2 .005), pool (1,2,2), conv3d 64 2x2x2, pool 2, conv3d 64 2x2x2,
  pool 2, dense 1000, dropout .1, dense 50, dense 2."""
  layers = keras.layers
  size = spec["frame_size"]
  frames = keras.Input((spec["video_frames"], size, size, 1), name="frames")
  x = layers.Conv3D(32, (3, 3, 3), activation="relu",
                    kernel_regularizer=keras.regularizers.L2(0.005))(frames)
  x = layers.MaxPooling3D((1, 2, 2))(x)
  x = layers.Conv3D(64, (2, 2, 2), activation="relu")(x)
  x = layers.MaxPooling3D((2, 2, 2))(x)
  x = layers.Conv3D(64, (2, 2, 2), activation="relu")(x)
  x = layers.MaxPooling3D((2, 2, 2))(x)
  x = layers.Flatten()(x)
  x = layers.Dense(1000, activation="relu")(x)
  x = layers.Dropout(0.1)(x)
  x = layers.Dense(50, activation="relu")(x)
  return keras.Model(frames, layers.Dense(2)(x), name="c3d")


def fusion_cnn_3dcnn_lstm(keras, spec: dict[str, Any], num_segments: int = 3):
  """Per segment: 2D CNN on mel (conv32 5x5, pool 2, conv8 5x5, pool 2) and 3D CNN on frames
  (conv3d 32 2x5x5, pool 2, conv3d 64 1x3x3, pool 2); concat, LSTM 50, dropout .2, dense 2."""
  layers = keras.layers
  size = spec["frame_size"]
  mel_len = spec["audio_frames"] // num_segments
  frames_len = spec["video_frames"] // num_segments

  mel_in = keras.Input((mel_len, spec["n_mels"], 1))
  mel_encoder = keras.Model(
      mel_in, _conv_stack(keras, mel_in, (32, 8), [(5, 5)] * 2, [(2, 2)] * 2, "mel"),
      name="audio_cnn")
  video_in = keras.Input((frames_len, size, size, 1))
  video_encoder = keras.Model(
      video_in, _conv_stack(keras, video_in, (32, 64), [(2, 5, 5), (1, 3, 3)],
                            [(2, 2, 2), (2, 2, 2)], "video"),
      name="video_cnn")

  log_mel = keras.Input((spec["audio_frames"], spec["n_mels"]), name="log_mel")
  frames = keras.Input((spec["video_frames"], size, size, 1), name="frames")
  mel_segments = layers.Reshape((num_segments, mel_len, spec["n_mels"], 1))(log_mel)
  video_segments = layers.Reshape((num_segments, frames_len, size, size, 1))(frames)
  joined = layers.Concatenate()([layers.TimeDistributed(mel_encoder)(mel_segments),
                                 layers.TimeDistributed(video_encoder)(video_segments)])
  x = layers.LSTM(50)(joined)
  x = layers.Dropout(0.2)(x)
  return keras.Model([log_mel, frames], layers.Dense(2)(x), name="fusion_cnn_3dcnn_lstm")


BUILDERS = {"cnn6": cnn6, "lstm": lstm, "c3d": c3d, "fusion_cnn_3dcnn_lstm": fusion_cnn_3dcnn_lstm}


def _optimizer(keras, spec: dict[str, Any]):
  clip = {"global_clipnorm": spec["grad_clip_norm"]} if spec.get("grad_clip_norm") else {}
  name, lr = spec["optimizer"], spec["learning_rate"]
  if name == "adam":
    return keras.optimizers.Adam(lr, **clip)
  if name == "rmsprop":
    return keras.optimizers.RMSprop(lr, **clip)
  if name == "sgd":
    return keras.optimizers.SGD(lr, momentum=0.9, **clip)
  raise ValueError(f"keras_reference: no Keras optimizer for {name!r}")


def _batch(model, spec: dict[str, Any]):
  """Random inputs in the model's input order and int labels [B], as the JAX side gets."""
  import numpy as np
  rng = np.random.default_rng(0)
  b = spec["batch_size"]
  shapes = {"log_mel": (b, spec["audio_frames"], spec["n_mels"]),
            "frames": (b, spec["video_frames"], spec["frame_size"], spec["frame_size"], 1)}
  inputs = [rng.standard_normal(shapes[t.name.split(":")[0]]).astype(np.float32)
            for t in model.inputs]
  labels = (np.arange(b) % 2).astype(np.int32)
  return (inputs[0] if len(inputs) == 1 else inputs), labels


def measure(spec: dict[str, Any], protocol: Protocol, threads: int) -> dict[str, Any]:
  """Examples/s of `model.train_on_batch` on one fixed batch.

  Returns:
    {"examples_per_s", "seconds_per_step", "runs_s", "warmup_s", "batch_size",
     "param_count", "tensorflow", "keras", "threads", "jit_compile"}
  """
  _configure_threads(threads)
  import keras
  import tensorflow as tf

  if spec["model"] not in BUILDERS:
    raise ValueError(f"keras_reference: unknown model {spec['model']!r}; "
                     f"choose one of {sorted(BUILDERS)}")
  keras.utils.set_random_seed(0)
  model = BUILDERS[spec["model"]](keras, spec)
  model.compile(optimizer=_optimizer(keras, spec),
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                metrics=["accuracy"])
  x, y = _batch(model, spec)
  timing = time_calls(lambda: model.train_on_batch(x, y), lambda result: None, protocol)
  return {
      "examples_per_s": spec["batch_size"] / timing["seconds_per_call"],
      "seconds_per_step": timing["seconds_per_call"],
      "runs_s": timing["runs_s"],
      "warmup_s": timing["warmup_s"],
      "batch_size": spec["batch_size"],
      "param_count": int(model.count_params()),
      "tensorflow": tf.__version__,
      "keras": keras.__version__,
      "threads": threads,
      "jit_compile": bool(model.jit_compile),
  }


if __name__ == "__main__":
  reference_command.run(measure, "JSON: model, batch_size, optimizer, shapes.")
