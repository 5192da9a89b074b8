"""Where a live monitor's alerts go: the targets' common shape, the fan-out, and a JSON-lines log.

Every target gets each alert (a JSON-able dict, see listening.py for the
payloads), the monitor's state now and then, and whether the monitor can hear.
A target that fails is logged, at most once a minute per target, and never
stops the listening: the fan-out catches everything a target raises, and the
targets that talk to a network (alert_webhook, alert_mqtt) do so from their own
threads, so a slow server cannot hold up the audio either.
"""
from __future__ import annotations

import json
import os
import threading
import time
from typing import Any, Sequence

from babycry_jax import console

log = console.logger()

# Seconds between two log lines about the same failing target.
_FAILURE_LOG_EVERY_S = 60.0


class AlertSink:
  """A target. Subclasses override what they use; none of these may block for long."""

  name = "target"

  def alert(self, payload: dict[str, Any]) -> None:
    """An event: crying started or stopped, monitor offline or online, listening started or stopped."""

  def state(self, payload: dict[str, Any]) -> None:
    """The monitor's state now (state, probability, level), on every change and now and then."""

  def availability(self, hearing: bool) -> None:
    """Whether the monitor hears its source."""

  def close(self) -> None:
    """Delivers what it still can, briefly, and lets go of its connections."""


class Alerts:
  """Fans each call out to every target; a target's failure is logged and swallowed."""

  def __init__(self, sinks: Sequence[AlertSink]):
    self.sinks = list(sinks)
    self._last_failure_log: dict[str, float] = {}
    self._lock = threading.Lock()

  def _each(self, method: str, *args) -> None:
    for sink in self.sinks:
      try:
        getattr(sink, method)(*args)
      except Exception as e:  # a broken target must never stop the listening
        self.failed(sink.name, e)

  def failed(self, name: str, error: Exception) -> None:
    """Logs a target's failure, at most once a minute per target."""
    now = time.monotonic()
    with self._lock:
      if now - self._last_failure_log.get(name, -1e9) < _FAILURE_LOG_EVERY_S:
        return
      self._last_failure_log[name] = now
    log.warning("alert target %s failed (listening goes on): %s: %s", name, type(error).__name__,
                " ".join(str(error).split()) or "no detail")

  def alert(self, payload: dict[str, Any]) -> None:
    self._each("alert", payload)

  def state(self, payload: dict[str, Any]) -> None:
    self._each("state", payload)

  def availability(self, hearing: bool) -> None:
    self._each("availability", hearing)

  def close(self) -> None:
    self._each("close")


class JsonLinesSink(AlertSink):
  """Appends every alert to a file, one JSON object a line, flushed at once."""

  def __init__(self, path: str):
    self.name = f"log {path}"
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    self._file = open(path, "a", encoding="utf-8")

  def alert(self, payload: dict[str, Any]) -> None:
    self._file.write(json.dumps(payload, sort_keys=True) + "\n")
    self._file.flush()

  def close(self) -> None:
    self._file.close()
