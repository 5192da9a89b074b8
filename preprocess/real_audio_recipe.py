"""`python -m preprocess.real_audio_recipe --shared ../shared/data --output data/real_audio`.

Builds the real-audio dataset (Donate-a-cry cries against speech, music and
household sounds; see preprocess.real_audio). Exit status 0 when written, 1
when a flag, the shared folder, the output or the Beam job refused; nothing is
left half-written.
"""
from __future__ import annotations

import functools

from absl import app, flags

from babycry_jax import console
from preprocess import real_audio, recipe_flags

FLAGS = flags.FLAGS
recipe_flags.define(default_output="data/real_audio",
                    media_dir_help="Where the manifest and FSDD files go (default: <output>_media).",
                    seed_help="FSDD clip order.",
                    manifest_only_help="Write the manifest, skip the Beam job.")
flags.DEFINE_integer("fsdd_windows", None, "FSDD windows to add (default: as many as balance the "
                     "labels).", lower_bound=0)
flags.adopt_module_key_flags(recipe_flags)


def main(argv: list[str]) -> int:
  options = dict(fsdd_windows=FLAGS.fsdd_windows, seed=FLAGS.seed, overwrite=FLAGS.overwrite)
  return recipe_flags.run(functools.partial(real_audio.prepare_media, **options),
                          functools.partial(real_audio.build, split_seed=FLAGS.split_seed, **options))


if __name__ == "__main__":
  app.run(main, flags_parser=console.parse_only_flags)
