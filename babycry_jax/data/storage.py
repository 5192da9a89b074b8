"""Paths that are local or in a Cloud Storage bucket (gs://): one way to read and write them.

Local paths go through the operating system; URLs through etils.epath and fsspec
(gcsfs for gs://). Writes are whole-file and atomic on both: a reader sees the
old content or the new, never half of it (a temporary file renamed locally; one
object upload in a bucket, which only appears when complete).
"""
from __future__ import annotations

import os
from typing import IO

from etils import epath


def is_url(path: str) -> bool:
  return "://" in os.fspath(path)


def absolute(path: str) -> str:
  """An absolute local path, or the URL unchanged."""
  path = os.fspath(path)
  return path if is_url(path) else os.path.abspath(path)


def join(base: str, *parts: str) -> str:
  base = os.fspath(base)
  return "/".join([base.rstrip("/"), *parts]) if is_url(base) else os.path.join(base, *parts)


def basename(path: str) -> str:
  return os.path.basename(os.fspath(path).rstrip("/"))


def exists(path: str) -> bool:
  return epath.Path(path).exists()


def makedirs(path: str) -> None:
  """Creates a local directory; buckets have no directories to create."""
  if not is_url(path):
    os.makedirs(path, exist_ok=True)


def open_file(path: str, mode: str = "r") -> IO:
  return epath.Path(path).open(mode)


def open_for_random_reads(path: str) -> IO:
  """A binary file for seek()+read() of exact ranges (no read-ahead of remote blocks)."""
  if not is_url(path):
    return open(path, "rb")
  fs, remote = _fs(path)
  return fs.open(remote, "rb", cache_type="none")


def _fs(url: str):
  import fsspec  # pylint: disable=g-import-not-at-top  (only needed for buckets)
  return fsspec.core.url_to_fs(url)


def remove(url: str) -> None:
  """Deletes a bucket object, or every object under a prefix (nothing if there is none)."""
  fs, path = _fs(url)
  if fs.exists(path):
    fs.rm(path, recursive=True)


def read_text(path: str) -> str:
  with open_file(path) as f:
    return f.read()


def read_bytes(path: str) -> bytes:
  with open_file(path, "rb") as f:
    return f.read()


def naming(error: OSError, path: str) -> OSError:
  """The same error with `path` in it (a failed write() names no file: "[Errno 28] ...: 'path'")."""
  if error.filename is not None or error.errno is None:
    return error
  return OSError(error.errno, error.strerror, path)


def write_bytes(path: str, data: bytes) -> None:
  """Replaces `path` with `data` atomically; an OSError names `path`."""
  if is_url(path):
    with open_file(path, "wb") as f:
      f.write(data)
    return
  tmp = f"{path}.tmp-{os.getpid()}"
  try:
    with open(tmp, "wb") as f:
      f.write(data)
    os.replace(tmp, path)
  except OSError as e:
    raise naming(e, path) from e
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)


def create_new(path: str, data: bytes) -> bool:
  """Writes `data` to `path` unless it exists (then False, nothing written); atomic on both.

  In a bucket the object is created with the precondition that it has no generation yet.
  """
  try:
    if is_url(path):
      fs, remote = _fs(path)
      with fs.open(remote, "xb") as f:
        f.write(data)
      return True
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
  except FileExistsError:
    return False
  with os.fdopen(fd, "wb") as f:
    f.write(data)
  return True


def list_files(folder: str) -> list[str]:
  """Paths relative to `folder` ("a/b.json") of every file below it, sorted."""
  if not is_url(folder):
    return sorted(os.path.relpath(os.path.join(root, name), folder)
                  for root, _, names in os.walk(folder) for name in names)
  fs, remote = _fs(folder)
  remote = remote.rstrip("/")
  return sorted(p[len(remote) + 1:] for p in fs.find(remote))


def move(source: str, destination: str) -> None:
  """Moves a file or folder (in a bucket: copies every object, then deletes the originals)."""
  if not is_url(source):
    os.makedirs(os.path.dirname(destination), exist_ok=True)
    os.rename(source, destination)
    return
  fs, remote = _fs(source)
  _, remote_destination = _fs(destination)
  fs.copy(remote, remote_destination, recursive=True)
  fs.rm(remote, recursive=True)


def write_text(path: str, text: str) -> None:
  write_bytes(path, text.encode("utf-8"))
