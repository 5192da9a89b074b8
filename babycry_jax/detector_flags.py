"""The flags both detection commands take (`detect` on files, `listen` live), and the Detector
and settings they name.

A command calls `define` when it loads, adds its own flags, and then `detector()`
and `check()` in its main: the model, the hop, the threshold and the smoothing
mean the same in both.
"""
from __future__ import annotations

from absl import flags

from babycry_jax import detection, segments, shipped_model

FLAGS = flags.FLAGS


def define(hop_s: float, hop_help: str, batch_size: int, batch_help: str) -> None:
  """Defines the shared flags; hop_s and batch_size are the command's defaults."""
  flags.DEFINE_string("workdir", None, "Training workdir whose checkpoint scores the audio "
                      "(default: the model shipped in the package, see --shipped_model).")
  flags.DEFINE_string("shipped_model", shipped_model.DEFAULT_NAME,
                      "Shipped model used without --workdir: a name in the package, or a folder "
                      "written by babycry_jax.export_model.")
  flags.DEFINE_string("checkpoint", "best", "best, latest or a step number.")
  flags.DEFINE_float("hop_s", hop_s, hop_help)
  flags.DEFINE_float("threshold", None, "Crying probability at or above which a window is crying "
                     "(default: the shipped model's threshold chosen on validation; 0.5 for a "
                     "workdir).")
  flags.DEFINE_integer("smoothing_windows", 3,
                       "Odd number of neighbouring windows whose probabilities are smoothed "
                       "before crying is decided (1 = none); detect's JSON keeps the raw ones "
                       "too.")
  flags.DEFINE_enum("smoothing", "median", list(segments.SMOOTHING_METHODS),
                    "How neighbouring windows are combined.")
  flags.DEFINE_integer("batch_size", batch_size, batch_help, lower_bound=1)


def check() -> None:
  """ValueError (one line) for a threshold, hop or smoothing out of range."""
  if FLAGS.threshold is not None and not 0.0 <= FLAGS.threshold <= 1.0:
    raise ValueError(f"--threshold must be within [0, 1], got {FLAGS.threshold}")
  if FLAGS.hop_s <= 0:
    raise ValueError(f"--hop_s must be positive, got {FLAGS.hop_s}")
  if FLAGS.smoothing_windows < 1 or FLAGS.smoothing_windows % 2 == 0:
    raise ValueError(f"--smoothing_windows must be an odd integer >= 1 (1 = no smoothing), "
                     f"got {FLAGS.smoothing_windows}")


def detector() -> detection.Detector:
  """The Detector the flags name (FileNotFoundError or ValueError when there is none)."""
  if FLAGS.workdir is None:
    return detection.shipped_detector(FLAGS.shipped_model, FLAGS.batch_size)
  return detection.Detector(FLAGS.workdir, FLAGS.checkpoint, FLAGS.batch_size)


def threshold(detector: detection.Detector) -> float:
  """--threshold, or the model's own."""
  return detector.default_threshold if FLAGS.threshold is None else FLAGS.threshold
