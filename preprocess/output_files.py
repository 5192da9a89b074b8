"""Files a worker writes into the dataset being built, through Beam's FileSystems (local or gs://).

A write that fails (a full disk, a file-size limit) raises an OSError that
names the file, so the launcher's one-line message can say where.
"""
from __future__ import annotations

import contextlib
from typing import IO, Iterator

from apache_beam.io.filesystems import FileSystems

from babycry_jax.data import storage


@contextlib.contextmanager
def created(path: str, mime_type: str = "application/octet-stream") -> Iterator[IO[bytes]]:
  """FileSystems.create(path) as a context; an OSError while writing or closing names `path`."""
  try:
    with FileSystems.create(path, mime_type=mime_type) as f:
      yield f
  except OSError as e:
    raise storage.naming(e, path) from e
