r"""Detects infant crying in any video or audio file, with the shipped model or a trained checkpoint.

  python -m babycry_jax.detect FILE...        # the model shipped in the package
  python -m babycry_jax.detect --workdir runs/default [--checkpoint best] [--hop_s 1.0]
      [--threshold 0.5] [--smoothing_windows 3] [--smoothing median]
      [--output_dir detections] FILE...

For every file, output_dir gets <stem>.json, <stem>.csv and (unless --nopng) <stem>.png (see
babycry_jax.detection_files) and the console one summary line. A file that cannot
be used gets one error line and no outputs while the others still run.
Exit status 0 when every file ran, 1 when some file failed, 2 on bad flags.
"""
from __future__ import annotations

import sys

from absl import app, flags

from babycry_jax import compilation_cache, console, detection, detection_files, segments, shipped_model
from babycry_jax.data import media_probe

log = console.logger()

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Training workdir whose checkpoint runs the detection "
                    "(default: the model shipped in the package, see --shipped_model).")
flags.DEFINE_string("shipped_model", shipped_model.DEFAULT_NAME,
                    "Shipped model used without --workdir: a name in the package, or a folder "
                    "written by babycry_jax.export_model.")
flags.DEFINE_string("checkpoint", "best", "best, latest or a step number.")
flags.DEFINE_float("hop_s", 1.0, "Seconds between the starts of consecutive windows.")
flags.DEFINE_float("threshold", None, "Crying probability at or above which a window is crying "
                   "(default: the shipped model's threshold chosen on validation; 0.5 for a workdir).")
flags.DEFINE_integer("smoothing_windows", 3,
                     "Odd number of neighbouring windows whose probabilities are smoothed before "
                     "segments are cut (1 = none); the JSON keeps the raw ones too.")
flags.DEFINE_enum("smoothing", "median", list(segments.SMOOTHING_METHODS),
                  "How neighbouring windows are combined.")
flags.DEFINE_string("output_dir", "detections", "Where <stem>.json/.csv/.png go.")
flags.DEFINE_bool("png", True, "Draw <stem>.png, the timeline plot (--nopng: JSON and CSV only, "
                  "much faster on many short files).")
flags.DEFINE_integer("batch_size", 32, "Windows per model call.", lower_bound=1)
flags.DEFINE_bool("compilation_cache", True, "Keep the compiled model on disk (under "
                  "~/.cache/babycry_jax) so the next start skips compiling it.")


def _print_line(line: str, ok: bool) -> None:
  print(line, file=sys.stdout if ok else sys.stderr, flush=True)


def main(argv):
  console.quiet_libraries()
  paths = list(argv[1:])
  if not paths:
    log.error("error: give at least one media file (%s)", " ".join(media_probe.MEDIA_EXTENSIONS))
    sys.exit(2)
  if FLAGS.compilation_cache:
    compilation_cache.enable()
  try:
    if FLAGS.threshold is not None and not 0.0 <= FLAGS.threshold <= 1.0:
      raise ValueError(f"--threshold must be within [0, 1], got {FLAGS.threshold}")
    if FLAGS.hop_s <= 0:
      raise ValueError(f"--hop_s must be positive, got {FLAGS.hop_s}")
    if FLAGS.smoothing_windows < 1 or FLAGS.smoothing_windows % 2 == 0:
      raise ValueError(f"--smoothing_windows must be an odd integer >= 1 (1 = no smoothing), "
                       f"got {FLAGS.smoothing_windows}")
    if FLAGS.workdir is None:
      detector = detection.shipped_detector(FLAGS.shipped_model, FLAGS.batch_size)
    else:
      detector = detection.Detector(FLAGS.workdir, FLAGS.checkpoint, FLAGS.batch_size)
  except (FileNotFoundError, ValueError) as e:
    log.error("error: %s", " ".join(str(e).split()))
    sys.exit(2)
  threshold = detector.default_threshold if FLAGS.threshold is None else FLAGS.threshold
  _, failed = detection_files.detect_files(detector, paths, FLAGS.output_dir, FLAGS.hop_s,
                                     threshold, FLAGS.smoothing_windows, FLAGS.smoothing,
                                     report=_print_line, plot=FLAGS.png)
  if failed:
    print(f"{len(failed)} of {len(paths)} file(s) failed", file=sys.stderr)
    sys.exit(1)


if __name__ == "__main__":
  app.run(main, flags_parser=console.parse_flags)
