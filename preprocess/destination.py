"""Where the job writes, and how its result becomes the dataset (or leaves nothing behind).

A local dataset is written into a hidden sibling (data.unfinished_builds) that
the job holds a lock on, and renamed when complete; siblings that dead jobs
left are removed first, and a live job writing the same output is refused. In
a bucket the prefix itself is written (a bucket has no rename): it is cleared
first, metadata.json before the rest, so no reader pairs old metadata with new
shards, and metadata.json, written last, makes it a dataset.
"""
from __future__ import annotations

import os
import shlex
import shutil
import sys
import uuid
from typing import Callable, Optional

from babycry_jax.data import owner_lock, schema, storage, unfinished_builds


class OutputBusy(RuntimeError):
  """Another live job is writing the same output."""


def output_exists(output_dir: str) -> bool:
  # In a bucket a dataset exists once its metadata.json does: that object is written last.
  if storage.is_url(output_dir):
    return storage.exists(storage.join(output_dir, schema.METADATA_FILE))
  return os.path.exists(output_dir)


def remove(path: str) -> None:
  """Deletes a file or a folder, local or in a bucket (nothing if there is none)."""
  if storage.is_url(path):
    storage.remove(path)
  elif os.path.isdir(path):
    shutil.rmtree(path)
  elif os.path.exists(path):
    os.remove(path)


def _clear_leftovers(output_dir: str, log: Callable[[str], None]) -> None:
  """Removes what dead jobs left for output_dir; OutputBusy when a live one is writing it."""
  for leftover in unfinished_builds.leftovers(output_dir):
    lock_path = leftover + unfinished_builds.LOCK_SUFFIX
    holder = owner_lock.holder_if_held(lock_path)
    if holder is not None:
      raise OutputBusy(f"another preprocessing job is writing {output_dir} "
                       f"({owner_lock.describe(holder)}, into {leftover}): wait for it to end "
                       "or choose another --output")
    shutil.rmtree(leftover, ignore_errors=True)
    remove(lock_path)
    log(f"removed {leftover}, left by a preprocessing job that did not finish")


def _command_line() -> str:
  """The command that started this process, for a message telling how to run it again."""
  argv = list(getattr(sys, "orig_argv", sys.argv))
  return shlex.join(["python", *argv[1:]])


class Destination:
  """The place one job writes to (`staging`), published as the dataset or discarded."""

  def __init__(self, output_dir: str, log: Callable[[str], None] = print):
    self.output_dir = output_dir
    self._lock: Optional[owner_lock.Lock] = None
    if storage.is_url(output_dir):
      storage.remove(storage.join(output_dir, schema.METADATA_FILE))
      storage.remove(output_dir)
      self.staging = output_dir
      return
    _clear_leftovers(output_dir, log)
    self.staging = unfinished_builds.staging_dir(output_dir, uuid.uuid4().hex[:8])
    os.makedirs(os.path.dirname(self.staging), exist_ok=True)
    # Locked before it exists, so a job clearing leftovers never takes it for a dead one's.
    self._lock = owner_lock.acquire(self.staging + unfinished_builds.LOCK_SUFFIX,
                                    command=_command_line())
    os.makedirs(self.staging)

  def _release(self) -> None:
    if self._lock is not None:
      self._lock.release()
      self._lock = None

  def discard(self) -> None:
    try:
      if storage.is_url(self.staging):
        storage.remove(self.staging)
      else:
        shutil.rmtree(self.staging, ignore_errors=True)
    finally:
      self._release()

  def publish(self, overwrite: bool) -> None:
    """Renames the finished staging folder to the output (replacing it if allowed)."""
    if storage.is_url(self.output_dir):
      return  # written in place; metadata.json, written last, made it a dataset
    try:
      if os.path.exists(self.output_dir):
        if not overwrite:
          raise FileExistsError(f"{self.output_dir} appeared while the job ran; not replacing it")
        trash = self.staging + "-old"
        os.rename(self.output_dir, trash)
        os.rename(self.staging, self.output_dir)
        shutil.rmtree(trash, ignore_errors=True)
      else:
        os.rename(self.staging, self.output_dir)
    finally:
      self._release()
