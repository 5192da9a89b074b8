"""Alerts as HTTP POSTs of JSON to a URL (a phone push service, Home Assistant's webhook, n8n...).

Posts go out from a thread of their own, in order, through a bounded queue, so
the listening never waits for a server. A post that fails (no connection, a
time-out, a 5xx or 429 answer) is retried after 1, 2, 4, ... seconds (at most
a minute apart) up to `retries` times; any other 4xx is the request's fault and
is not retried. On close, what is queued gets a few seconds to go out.
"""
from __future__ import annotations

import collections
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Callable, Optional

from babycry_jax import console
from babycry_jax.alert_sinks import AlertSink

log = console.logger()

_MAX_QUEUED = 1000
_MAX_BACKOFF_S = 60.0


def check_url(url: str) -> str:
  """The URL, or ValueError when it is not an http(s) URL with a host."""
  parts = urllib.parse.urlsplit(url)
  if parts.scheme not in ("http", "https") or not parts.hostname:
    raise ValueError(f"webhook {url!r} is not an http:// or https:// URL with a host")
  return url


class WebhookSink(AlertSink):
  """POSTs each alert as JSON to `url`, retrying with backoff; see the module docstring."""

  def __init__(self, url: str, retries: int = 5, backoff_s: float = 1.0, timeout_s: float = 5.0,
               drain_s: float = 5.0, on_failure: Optional[Callable[[str, Exception], None]] = None):
    self.url = check_url(url)
    parts = urllib.parse.urlsplit(url)
    self.name = f"webhook {parts.scheme}://{parts.hostname}{parts.path}"
    self.retries, self.backoff_s, self.timeout_s, self.drain_s = retries, backoff_s, timeout_s, drain_s
    self._on_failure = on_failure
    self._queue: collections.deque = collections.deque()
    self._wake = threading.Condition()
    self._closing = False
    self._busy = False
    self._deadline = float("inf")   # set on close: retries stop waiting, then stop
    self._thread = threading.Thread(target=self._run, name="webhook", daemon=True)
    self._thread.start()

  def alert(self, payload: dict[str, Any]) -> None:
    with self._wake:
      if len(self._queue) >= _MAX_QUEUED:
        self._queue.popleft()   # the server has been gone a long time: the oldest alert goes
      self._queue.append(json.dumps(payload, sort_keys=True).encode())
      self._wake.notify()

  def _post(self, body: bytes) -> None:
    request = urllib.request.Request(self.url, data=body, method="POST", headers={
        "Content-Type": "application/json", "User-Agent": "babycry_jax-listen"})
    with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
      response.read()

  def _deliver(self, body: bytes) -> None:
    """Posts one alert, retrying what may succeed later; logs the last failure."""
    for attempt in range(self.retries + 1):
      try:
        self._post(body)
        return
      except urllib.error.HTTPError as e:
        error: Exception = e
        if 400 <= e.code < 500 and e.code != 429:
          break   # the server will refuse this request however often it is sent
      except (OSError, ValueError) as e:   # URLError, time-outs, refused connections
        error = e
      if attempt == self.retries:
        break
      with self._wake:   # closing shortens the wait, it does not drop the alert
        self._wake.wait_for(lambda: self._closing,
                            min(self.backoff_s * 2 ** attempt, _MAX_BACKOFF_S))
        if self._closing and time.monotonic() > self._deadline:
          break
    if self._on_failure is not None:
      self._on_failure(self.name, error)
    else:
      log.warning("%s: an alert was not delivered: %s", self.name, error)

  def _run(self) -> None:
    while True:
      with self._wake:
        self._wake.wait_for(lambda: self._queue or self._closing)
        if not self._queue:
          return
        body = self._queue.popleft()
        self._busy = True
      try:
        self._deliver(body)
      finally:
        with self._wake:
          self._busy = False
          self._wake.notify_all()

  def pending(self) -> int:
    """Alerts queued or being sent."""
    with self._wake:
      return len(self._queue) + int(self._busy)

  def close(self) -> None:
    self._deadline = time.monotonic() + self.drain_s
    with self._wake:
      self._closing = True
      self._wake.notify_all()
    self._thread.join(timeout=self.drain_s)
