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

from babycry_jax import compilation_cache, console, detection_files, detector_flags
from babycry_jax.data import media_probe

log = console.logger()

FLAGS = flags.FLAGS
detector_flags.define(1.0, "Seconds between the starts of consecutive windows.",
                      32, "Windows per model call (for a model on YAMNet patches, the most "
                      "patches per call; fewer go in a smaller batch).")
flags.adopt_module_key_flags(detector_flags)
flags.DEFINE_string("output_dir", "detections", "Where <stem>.json/.csv/.png go.")
flags.DEFINE_bool("png", True, "Draw <stem>.png, the timeline plot (--nopng: JSON and CSV only, "
                  "much faster on many short files).")
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
    detector_flags.check()
    detector = detector_flags.detector()
  except (FileNotFoundError, ValueError) as e:
    log.error("error: %s", " ".join(str(e).split()))
    sys.exit(2)
  threshold = detector_flags.threshold(detector)
  _, failed = detection_files.detect_files(detector, paths, FLAGS.output_dir, FLAGS.hop_s,
                                     threshold, FLAGS.smoothing_windows, FLAGS.smoothing,
                                     report=_print_line, plot=FLAGS.png)
  if failed:
    print(f"{len(failed)} of {len(paths)} file(s) failed", file=sys.stderr)
    sys.exit(1)


if __name__ == "__main__":
  app.run(main, flags_parser=console.parse_flags)
