"""What a person watching the monitor sees: the console status line, and the last minutes kept
for the local web page (live_web) as the timeline plot `detect` draws.

Both are observers of listening.Listener: they hear each decided window, the
log-mel the model saw, and the state a few times a second.
"""
from __future__ import annotations

import collections
import sys
import threading
import time
from typing import Any, Optional, TextIO

import numpy as np

from babycry_jax import segments

# Log-mel frames (100 a second) averaged into one column of the page's spectrogram strip.
_POOL_FRAMES = 10
# The console line on a terminal is redrawn at most this often.
_REDRAW_S = 0.25


def status_text(snapshot: dict[str, Any]) -> str:
  """One line: clock, state, smoothed probability, level, audio heard."""
  heard = int(snapshot["heard_s"])
  return (f"{snapshot['time'][11:19]}  {snapshot['state']:<8}  p={snapshot['probability']:.2f}  "
          f"level {snapshot['level_dbfs']:6.1f} dBFS  heard {heard // 3600}:{heard // 60 % 60:02d}:"
          f"{heard % 60:02d}")


class StatusLine:
  """The state on the console: redrawn in place on a terminal, else a line every every_s; and
  at once whenever the state changes, so a short episode is never missed between lines."""

  def __init__(self, stream: Optional[TextIO] = None, every_s: float = 10.0):
    self._stream = stream or sys.stdout
    self._tty = self._stream.isatty()
    self._every_s = _REDRAW_S if self._tty else every_s
    self._last = -1e9
    self._state: Optional[str] = None
    self._width = 0

  def status(self, snapshot: dict[str, Any]) -> None:
    now = time.monotonic()
    if snapshot["state"] == self._state and now - self._last < self._every_s:
      return
    self._last, self._state = now, snapshot["state"]
    text = status_text(snapshot)
    if self._tty:   # pad over a longer previous line
      self._stream.write("\r" + text.ljust(self._width))
      self._width = len(text)
    else:
      self._stream.write(text + "\n")
    self._stream.flush()

  def window(self, start_s: float, end_s: float, raw: float, smoothed: float) -> None:
    pass

  def log_mel(self, start_s: float, frames: np.ndarray) -> None:
    pass

  def close(self) -> None:
    if self._tty and self._width:
      self._stream.write("\n")
      self._stream.flush()


class History:
  """The last `minutes` of windows, spectrogram columns and the latest state, for the web page."""

  def __init__(self, minutes: float, threshold: float, title: str):
    self.span_s, self.threshold, self.title = 60.0 * minutes, threshold, title
    self._windows: collections.deque = collections.deque()   # (start, end, raw, smoothed)
    self._columns: collections.deque = collections.deque()   # (time, column [n_mels])
    self._snapshot: dict[str, Any] = {}
    self._lock = threading.Lock()

  def window(self, start_s: float, end_s: float, raw: float, smoothed: float) -> None:
    with self._lock:
      self._windows.append((start_s, end_s, raw, smoothed))
      while self._windows and self._windows[0][1] < end_s - self.span_s:
        self._windows.popleft()

  def log_mel(self, start_s: float, frames: np.ndarray) -> None:
    frame_s = 0.01   # both front ends hop 10 ms
    count = len(frames) // _POOL_FRAMES
    pooled = np.asarray(frames[:count * _POOL_FRAMES], np.float32).reshape(
        count, _POOL_FRAMES, -1).mean(axis=1).astype(np.float16)
    with self._lock:
      for k, column in enumerate(pooled):
        self._columns.append((start_s + k * _POOL_FRAMES * frame_s, column))
      newest = self._columns[-1][0] if self._columns else start_s
      while self._columns and self._columns[0][0] < newest - self.span_s:
        self._columns.popleft()

  def status(self, snapshot: dict[str, Any]) -> None:
    with self._lock:
      self._snapshot = dict(snapshot)

  def close(self) -> None:
    pass

  def snapshot(self) -> dict[str, Any]:
    with self._lock:
      return dict(self._snapshot)

  def png(self) -> bytes:
    """The timeline of the kept minutes, times from the first kept window."""
    from babycry_jax import plots   # matplotlib: only when the page is asked for
    with self._lock:
      windows, columns = list(self._windows), list(self._columns)
    if not windows:
      windows = [(0.0, 0.0, 0.0, 0.0)]
    starts, ends, _, smoothed = (np.array(x, np.float64) for x in zip(*windows))
    origin = starts[0]
    crying = segments.merge_segments(starts - origin, ends - origin, smoothed, self.threshold)
    times = np.array([t - origin for t, _ in columns if t >= origin])
    strip = (np.stack([c for t, c in columns if t >= origin]).T.astype(np.float32)
             if len(times) else None)
    return plots.timeline_png_bytes(
        f"{self.title}: the last {self.span_s / 60:g} min (from {origin:.0f} s heard)",
        starts - origin, ends - origin, smoothed, [(s.start_s, s.end_s) for s in crying],
        self.threshold, float(ends[-1] - origin), strip, times if len(times) else None,
        "no audio yet")
