"""What a worker process prints on its console: a failed bundle's traceback becomes one line.

Beam's SDK harness prints the traceback of every failed bundle to the
worker's stderr, whatever the log level. The job then fails and the launcher
reports the cause in one line of its own, so the worker's copy is cut to the
exception line; everything else a worker prints (its progress lines) passes
unchanged. Each DoFn's setup installs it: it runs in every worker process.
"""
from __future__ import annotations

import sys
from typing import TextIO

_TRACEBACK = "Traceback (most recent call last):"
_CHAIN_LINES = ("Traceback", "During handling", "The above exception")


class _OneLineTracebacks:
  """A text stream that writes tracebacks as their last exception line."""

  def __init__(self, stream: TextIO):
    self._stream = stream

  def write(self, text: str) -> int:
    if _TRACEBACK in text:
      causes = [line for line in text.splitlines()
                if line.strip() and not line.startswith((" ", *_CHAIN_LINES))]
      text = f"worker: bundle failed: {causes[-1] if causes else 'see the launcher'}"
    return self._stream.write(text)

  def __getattr__(self, name: str):
    return getattr(self._stream, name)


def install() -> None:
  """Wraps this process's stderr once."""
  if not isinstance(sys.stderr, _OneLineTracebacks):
    sys.stderr = _OneLineTracebacks(sys.stderr)
