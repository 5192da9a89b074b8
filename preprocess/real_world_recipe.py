"""`python -m preprocess.real_world_recipe --shared ../shared/data --output data/real_world`.

Builds the real-world dataset (cries and cry-in-background mixtures against
hard negatives of eight source groups; see preprocess.real_world). Exit status
0 when written, 1 when a flag, the shared folder, the output or the Beam job
refused; nothing is left half-written.
"""
from __future__ import annotations

import logging
import os
import sys

from absl import app, flags

from babycry_jax import console
from preprocess.real_world import RecipeError, build, prepare_media
from preprocess.real_audio import default_shared_dir

FLAGS = flags.FLAGS
flags.DEFINE_string("shared", str(default_shared_dir()), "The shared/data folder.")
flags.DEFINE_string("output", "data/real_world", "Dataset dir to create.")
flags.DEFINE_string("media_dir", None, "Where the manifest and made WAVs go (default: <output>_media).")
flags.DEFINE_integer("seed", 0, "Subsampling, mixtures and FSDD clip order.")
flags.DEFINE_integer("split_seed", 0, "Group-to-split assignment.")
flags.DEFINE_bool("manifest_only", False, "Write the manifest and WAVs, skip the Beam job.")
flags.DEFINE_bool("overwrite", False, "Replace existing outputs.")


def main(argv: list[str]) -> int:
  if len(argv) > 1:
    print(f"error: unexpected arguments {argv[1:]}", file=sys.stderr)
    return 1
  media_dir = FLAGS.media_dir or f"{os.path.normpath(FLAGS.output)}_media"
  try:
    if FLAGS.manifest_only:
      prepare_media(FLAGS.shared, media_dir, seed=FLAGS.seed, split_seed=FLAGS.split_seed,
                    overwrite=FLAGS.overwrite)
    else:
      build(FLAGS.shared, FLAGS.output, media_dir, seed=FLAGS.seed, split_seed=FLAGS.split_seed,
            overwrite=FLAGS.overwrite)
  except (RecipeError, FileExistsError, ValueError, RuntimeError) as e:
    # ValueError covers sources.InputError, RuntimeError pipeline.PreprocessError.
    print(f"error: {e}", file=sys.stderr)
    return 1
  return 0


if __name__ == "__main__":
  logging.getLogger("apache_beam").setLevel(logging.WARNING)
  app.run(main, flags_parser=console.parse_flags)
