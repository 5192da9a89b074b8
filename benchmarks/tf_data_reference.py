"""The tf.data side of the input benchmark; runs only in the TensorFlow venv (benchmarks.tf_env).

  python -m benchmarks.tf_data_reference --spec JSON [--threads N] [protocol flags]

Prints one JSON line: examples/s of a tf.data recipe doing the work our loader
does (parse, crop, normalise, batch) on the same shards.
"""
from __future__ import annotations

from typing import Any

from benchmarks import Protocol, reference_command, time_calls


def measure(spec: dict[str, Any], protocol: Protocol, threads: int) -> dict[str, Any]:
  """The tf.data side; runs only in the TensorFlow venv."""
  import tensorflow as tf
  tf.config.threading.set_intra_op_parallelism_threads(threads)
  tf.config.threading.set_inter_op_parallelism_threads(threads)
  features = {}
  for key, shape in spec["shapes"].items():
    if key in spec["bytes_features"]:
      features[key] = tf.io.FixedLenFeature([], tf.string)
    else:
      dtype = tf.float32 if key in spec["float_features"] else tf.int64
      features[key] = tf.io.FixedLenFeature(shape, dtype)
  mfcc_mean = tf.constant(spec["mfcc_mean"], tf.float32)
  mfcc_std = tf.constant(spec["mfcc_std"], tf.float32)

  def parse(serialized):
    r = tf.io.parse_single_example(serialized, features)
    has_audio = tf.cast(r["has_audio"], tf.float32)
    has_video = tf.cast(r["has_video"], tf.float32)
    # Stored as float32 holding float16-exact values: used as stored, as our decoder does.
    log_mel = r["audio/log_mel"][:spec["audio_frames"]]
    frames = tf.reshape(tf.io.decode_raw(r["video/frames"], tf.uint8), spec["shapes"]["video/frames"])
    frames = tf.cast(frames[:spec["video_frames"]], tf.float32)
    return {
        "log_mel": (log_mel - spec["mel_mean"]) / spec["mel_std"] * has_audio,
        "mfcc_stats": (r["audio/mfcc_stats"] - mfcc_mean) / mfcc_std * has_audio,
        "frames": (frames - spec["frame_mean"]) / spec["frame_std"] * has_video,
        "has_audio": has_audio,
        "has_video": has_video,
        "label": tf.cast(r["label"], tf.int32),
        "weight": tf.ones((), tf.float32),
    }

  dataset = (tf.data.TFRecordDataset(spec["files"], num_parallel_reads=tf.data.AUTOTUNE)
             .repeat()
             .shuffle(256, seed=0)
             .map(parse, num_parallel_calls=tf.data.AUTOTUNE)
             .batch(spec["batch_size"], drop_remainder=True)
             .prefetch(tf.data.AUTOTUNE))
  iterator = dataset.as_numpy_iterator()
  timing = time_calls(lambda: next(iterator), lambda batch: None, protocol)
  return {"examples_per_s": spec["batch_size"] / timing["seconds_per_call"],
          "seconds_per_batch": timing["seconds_per_call"], "runs_s": timing["runs_s"],
          "batch_size": spec["batch_size"], "tensorflow": tf.__version__, "threads": threads}


if __name__ == "__main__":
  reference_command.run(measure, "benchmarks.input_pipeline_speed.tf_data_spec JSON.")
