"""Telling storage faults from other errors: a full disk (or a file-size limit) and a bucket that
does not answer.

Such errors come wrapped in many ways: Python's OSError, tensorstore's
ValueError with the OS error code in its text, aiohttp's connection errors
under gcsfs, Beam's RuntimeError carrying a worker's traceback as text. So
the whole chain of causes is read, and its text.
"""
from __future__ import annotations

import errno
from typing import Iterator, Optional

DISK_FULL = "disk_full"
UNREACHABLE = "unreachable"

_FULL_ERRNOS = frozenset([errno.ENOSPC, errno.EFBIG, errno.EDQUOT])
_FULL_TEXTS = ("No space left on device", "File too large", "Disk quota exceeded",
               "os_error_code='28'", "os_error_code='27'", "[Errno 28]", "[Errno 27]")
_UNREACHABLE_TEXTS = ("Cannot connect to host", "Connection refused", "Connection reset",
                      "Server disconnected", "UNAVAILABLE:", "Temporary failure in name resolution")

ADVICE = {
    DISK_FULL: "the disk is full or a file-size limit was reached: free space first",
    UNREACHABLE: "the bucket did not answer, though the storage client retried with backoff: "
                 "wait until it answers",
}


def _chain(error: BaseException) -> Iterator[BaseException]:
  seen = set()
  while error is not None and id(error) not in seen:
    seen.add(id(error))
    yield error
    error = error.__cause__ or error.__context__


def kind(error: BaseException) -> Optional[str]:
  """DISK_FULL, UNREACHABLE, or None for any other error."""
  for e in _chain(error):
    if isinstance(e, OSError) and e.errno in _FULL_ERRNOS:
      return DISK_FULL
    if isinstance(e, (ConnectionError, TimeoutError)):
      return UNREACHABLE
    text = str(e)
    if any(t in text for t in _FULL_TEXTS):
      return DISK_FULL
    if type(e).__module__.startswith("aiohttp") or any(t in text for t in _UNREACHABLE_TEXTS):
      return UNREACHABLE
  return None
