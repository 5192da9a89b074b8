"""`python -m preprocess.real_world_recipe --shared ../shared/data --output data/real_world`.

Builds the real-world dataset (cries and cry-in-background mixtures against
hard negatives of eight source groups; see preprocess.real_world). Exit status
0 when written, 1 when a flag, the shared folder, the output or the Beam job
refused; nothing is left half-written.
"""
from __future__ import annotations

import functools

from absl import app, flags

from babycry_jax import console
from preprocess import real_world, recipe_flags

FLAGS = flags.FLAGS
recipe_flags.define(default_output="data/real_world",
                    media_dir_help="Where the manifest and made WAVs go (default: <output>_media).",
                    seed_help="Subsampling, mixtures and FSDD clip order.",
                    manifest_only_help="Write the manifest and WAVs, skip the Beam job.")
flags.adopt_module_key_flags(recipe_flags)


def main(argv: list[str]) -> int:
  options = dict(seed=FLAGS.seed, split_seed=FLAGS.split_seed, overwrite=FLAGS.overwrite)
  return recipe_flags.run(functools.partial(real_world.prepare_media, **options),
                          functools.partial(real_world.build, **options))


if __name__ == "__main__":
  app.run(main, flags_parser=console.parse_only_flags)
