"""The flags both recipe commands take, and how a recipe command runs on them.

`python -m preprocess.real_audio_recipe` and `python -m preprocess.real_world_recipe`
share --shared, --output, --media_dir, --seed, --split_seed, --manifest_only and
--overwrite: a command calls `define`, adds its own flags, adopts these as its
own (`flags.adopt_module_key_flags`, so that --help lists them) and hands its
recipe's two entry points to `run`.
"""
from __future__ import annotations

import logging
import os
import pathlib
import sys
from typing import Callable

from absl import flags

FLAGS = flags.FLAGS


def default_shared_dir() -> pathlib.Path:
  """`<repo>/../shared/data`, where the project's machines keep the real media."""
  return pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "data"


def define(default_output: str, media_dir_help: str, seed_help: str,
           manifest_only_help: str) -> None:
  """Defines the flags every recipe command takes; call once, when the command loads."""
  flags.DEFINE_string("shared", str(default_shared_dir()), "The shared/data folder.")
  flags.DEFINE_string("output", default_output, "Dataset dir to create.")
  flags.DEFINE_string("media_dir", None, media_dir_help)
  flags.DEFINE_integer("seed", 0, seed_help)
  flags.DEFINE_integer("split_seed", 0, "Group-to-split assignment.")
  flags.DEFINE_bool("manifest_only", False, manifest_only_help)
  flags.DEFINE_bool("overwrite", False, "Replace existing outputs.")


def run(prepare_media: Callable[[str, str], object],
        build: Callable[[str, str, str], object]) -> int:
  """Runs a recipe on the parsed flags; returns the command's exit status.

  prepare_media(shared, media_dir) under --manifest_only, else
  build(shared, output, media_dir); media_dir defaults to `<output>_media`.
  A refusal is one `error:` line on stderr and status 1 (console.parse_only_flags refuses a
  stray argument the same way).
  """
  logging.getLogger("apache_beam").setLevel(logging.WARNING)
  media_dir = FLAGS.media_dir or f"{os.path.normpath(FLAGS.output)}_media"
  try:
    if FLAGS.manifest_only:
      prepare_media(FLAGS.shared, media_dir)
    else:
      build(FLAGS.shared, FLAGS.output, media_dir)
  except (FileExistsError, ValueError, RuntimeError) as e:
    # ValueError covers RecipeError and sources.InputError, RuntimeError pipeline.PreprocessError.
    print(f"error: {e}", file=sys.stderr)
    return 1
  return 0
