"""A checkpoint's digest: the size and SHA-256 of each of its files, written as the save ends.

`digest.json` sits in the step's folder and covers the files of its items
(state/, meta/): what a restore reads. Orbax's bookkeeping at the top of the
folder (_CHECKPOINT_METADATA, commit_success.txt) is rewritten while Orbax
finishes the step and is not needed to restore it, so it is left out.
"""
from __future__ import annotations

import hashlib
import json

from babycry_jax.data import storage

DIGEST_FILE = "digest.json"
# Where Orbax writes a step before renaming it (locally; a bucket has no rename).
_ORBAX_TEMPORARY_SUFFIX = ".orbax-checkpoint-tmp"
_CHUNK_BYTES = 1 << 20


def _size_and_sha256(path: str) -> tuple[int, str]:
  digest, size = hashlib.sha256(), 0
  with storage.open_file(path, "rb") as f:
    while chunk := f.read(_CHUNK_BYTES):
      digest.update(chunk)
      size += len(chunk)
  return size, digest.hexdigest()


def unfinished_folder(directory: str, step: int) -> str:
  """The folder a step is being written in: Orbax's temporary one, or the step's own in a bucket."""
  temporary = storage.join(directory, f"{step}{_ORBAX_TEMPORARY_SUFFIX}")
  return temporary if storage.exists(temporary) else storage.join(directory, str(step))


def write(folder: str) -> None:
  """Writes the digest of every item file below `folder`."""
  files = {name: list(_size_and_sha256(storage.join(folder, name)))
           for name in storage.list_files(folder) if "/" in name}
  storage.write_text(storage.join(folder, DIGEST_FILE), json.dumps({"files": files}, sort_keys=True))


def problem(folder: str) -> str | None:
  """What differs from the digest, in a few words; None when all matches or there is no digest.

  Checkpoints written before digests existed have none: nothing to compare, so None.
  """
  path = storage.join(folder, DIGEST_FILE)
  if not storage.exists(path):
    return None
  try:
    files = json.loads(storage.read_text(path))["files"]
  except (ValueError, KeyError, TypeError):
    return f"its {DIGEST_FILE} cannot be read"
  for name, (size, sha256) in sorted(files.items()):
    full = storage.join(folder, name)
    if not storage.exists(full):
      return f"{name} is missing"
    found_size, found_sha256 = _size_and_sha256(full)
    if found_size != size:
      return f"{name} has {found_size} bytes where {size} were written"
    if found_sha256 != sha256:
      return f"{name} is not what was written: its SHA-256 differs"
  return None
