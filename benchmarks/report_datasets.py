"""The report's datasets, built where they belong when missing."""
from __future__ import annotations

import os
import sys
from typing import Callable, Optional

from babycry_jax.data import schema
from preprocess import embedded_media, real_audio, real_world

# The recipe that builds each corpus of the shared folder into a dataset.
RECIPES = {"real_audio": real_audio.build, "real_world": real_world.build}


def _exists(dataset_dir: str) -> bool:
  return os.path.exists(os.path.join(dataset_dir, schema.METADATA_FILE))


def ensure_embedded_default(dataset_dir: str, log: Callable[[str], None]) -> None:
  """Generates and preprocesses the embedded default into dataset_dir when it is missing."""
  if not _exists(dataset_dir):
    log(f"building the embedded default dataset {dataset_dir}")
    embedded_media.build_dataset(dataset_dir)


def ensure_recipe_dataset(dataset_dir: str, shared_dir: str, corpus: str,
                          log: Callable[[str], None]) -> Optional[str]:
  """dataset_dir, built by preprocess.<corpus>.build from <shared_dir>/<corpus> when missing;
  None (with the reason logged) when that corpus is absent."""
  if _exists(dataset_dir):
    return dataset_dir
  if not os.path.isdir(os.path.join(shared_dir, corpus)):
    log(f"{corpus} dataset skipped: {dataset_dir} is missing and {shared_dir}/{corpus} is absent")
    return None
  log(f"building the {corpus} dataset {dataset_dir} from {shared_dir}")
  RECIPES[corpus](shared_dir, dataset_dir, log=log)
  return dataset_dir


def try_recipe_dataset(dataset_dir: str, shared_dir: str, corpus: str,
                       log: Callable[[str], None]) -> tuple[Optional[str], Optional[Exception]]:
  """(ensure_recipe_dataset's answer, None), or (None, the error of a build that failed)."""
  try:
    return ensure_recipe_dataset(dataset_dir, shared_dir, corpus, log), None
  except Exception as e:  # the report's other tables are still worth writing
    print(f"{corpus.replace('_', '-')} dataset could not be built: {type(e).__name__}: {e}",
          file=sys.stderr)
    return None, e
