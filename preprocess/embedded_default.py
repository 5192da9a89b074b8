"""`python -m preprocess.embedded_default --output DIR [--num_clips N] [--seed S]`: the default media.

Renders the embedded default's synthetic audio-video clips as real media files
(see preprocess.embedded_media); `python -m preprocess --input DIR` turns them
into a dataset. Exit status 0 when written, 1 on bad flags or an output in the way.
"""
from __future__ import annotations

import sys
import time

from absl import app, flags

from babycry_jax import console
from preprocess import embedded_media

FLAGS = flags.FLAGS
flags.DEFINE_string("output", None, "Media directory to create.")
flags.DEFINE_integer("num_clips", embedded_media.NUM_CLIPS, "Clips to render.", lower_bound=1)
flags.DEFINE_integer("seed", embedded_media.SEED, "Seed of the clips.")
flags.DEFINE_integer("workers", 2, "Rendering processes.", lower_bound=1)
flags.mark_flag_as_required("output")


def main(argv: list[str]) -> int:
  started = time.monotonic()
  try:
    rows = embedded_media.generate(FLAGS.output, FLAGS.num_clips, FLAGS.seed, FLAGS.workers)
  except (FileExistsError, FileNotFoundError, ValueError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 1
  crying = sum(r["label"] == "crying" for r in rows)
  print(f"{FLAGS.output}: {len(rows)} clips ({crying} crying) in "
        f"{time.monotonic() - started:.1f} s")
  return 0


if __name__ == "__main__":
  app.run(main, flags_parser=console.parse_only_flags)
