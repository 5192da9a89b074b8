"""What an unfinished preprocessing job leaves where a dataset should be, and how to say so.

A local dataset is built in a hidden sibling, `.<name>.incomplete-<id>`, next
to a lock file `.<name>.incomplete-<id>.lock` naming the job (owner_lock), and
renamed to `<name>` only when complete. A job that dies leaves the sibling
behind; the next job removes it once its lock holds nobody. In a bucket the job
writes under the dataset's own prefix and metadata.json comes last, so a prefix
with objects but no metadata.json is an unfinished build.
"""
from __future__ import annotations

import glob
import json
import os

from babycry_jax.data import storage

_TAG = ".incomplete-"
LOCK_SUFFIX = ".lock"


def staging_dir(output_dir: str, job_id: str) -> str:
  """The hidden sibling a local job builds `output_dir` in."""
  parent, name = os.path.split(os.path.abspath(output_dir))
  return os.path.join(parent, f".{name}{_TAG}{job_id}")


def leftovers(dataset_dir: str) -> list[str]:
  """Folders (or the bucket prefix) that unfinished jobs left for `dataset_dir`, sorted."""
  if storage.is_url(dataset_dir):
    return [dataset_dir] if storage.list_files(dataset_dir) else []
  parent, name = os.path.split(os.path.abspath(dataset_dir))
  pattern = os.path.join(glob.escape(parent), f".{glob.escape(name)}{_TAG}*")
  return sorted(p for p in glob.glob(pattern) if os.path.isdir(p))


def _command(leftover: str) -> str | None:
  try:
    with open(leftover + LOCK_SUFFIX) as f:
      command = json.load(f).get("command")
  except (OSError, ValueError, AttributeError):
    return None
  return command if isinstance(command, str) else None


def describe(dataset_dir: str) -> str | None:
  """A sentence saying that `dataset_dir` is an unfinished build and how to finish it; None if
  nothing of one is there."""
  found = leftovers(dataset_dir)
  if not found:
    return None
  command = _command(found[-1]) if not storage.is_url(dataset_dir) else None
  again = f"`{command}`" if command else "the preprocessing command that was writing it"
  return (f"{dataset_dir} is incomplete: a preprocessing job writing it did not finish "
          f"(it left {found[-1]}). To finish it, run {again} again: it starts over and "
          "clears what the unfinished job left")
