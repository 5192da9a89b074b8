"""Per-window crying probabilities into crying segments: smoothing over neighbours, then merging.

Detection on a file and live listening cut segments the same way.
"""
from __future__ import annotations

import collections
import dataclasses

import numpy as np
import scipy.ndimage

SMOOTHING_METHODS = ("median", "mean")


@dataclasses.dataclass
class Segment:
  """A stretch of consecutive windows whose probability reached the threshold."""
  start_s: float
  end_s: float
  peak_probability: float


def check_smoothing(smoothing_windows: int, method: str) -> None:
  """ValueError unless smoothing_windows is odd and >= 1 and method one of SMOOTHING_METHODS."""
  if not (isinstance(smoothing_windows, int) and smoothing_windows >= 1
          and smoothing_windows % 2 == 1):
    raise ValueError(f"smoothing_windows must be an odd integer >= 1 (1 = no smoothing), "
                     f"got {smoothing_windows!r}")
  if method not in SMOOTHING_METHODS:
    raise ValueError(f"smoothing method must be one of {SMOOTHING_METHODS}, got {method!r}")


def smooth_probabilities(probabilities: np.ndarray, smoothing_windows: int = 3,
                         method: str = "median") -> np.ndarray:
  """[W] probabilities smoothed over each window and its neighbours, centred.

  A lone window above the threshold among quiet ones (a cough, a clatter) is
  rarely a cry, which lasts seconds; a median over smoothing_windows windows
  drops it and keeps a sustained cry. The ends repeat the edge value.

  Args:
    probabilities: [W] per-window crying probabilities in time order.
    smoothing_windows: odd number of windows (1 returns a copy).
    method: "median" or "mean".
  """
  check_smoothing(smoothing_windows, method)
  values = np.asarray(probabilities, np.float64)
  if smoothing_windows == 1 or len(values) == 0:
    return values.copy()
  if method == "median":
    return scipy.ndimage.median_filter(values, size=smoothing_windows, mode="nearest")
  return scipy.ndimage.uniform_filter1d(values, size=smoothing_windows, mode="nearest")


def merge_segments(starts_s: np.ndarray, ends_s: np.ndarray, probabilities: np.ndarray,
                   threshold: float) -> list[Segment]:
  """Consecutive windows with probability >= threshold, merged into segments.

  Windows in time order; a window joins the open segment when it starts at or
  before that segment's end (always so for hop_s <= window_s), so a gap between
  windows never counts as crying.

  Args:
    starts_s, ends_s: [W] window bounds in seconds.
    probabilities: [W] crying probability per window.
    threshold: decision threshold.
  """
  segments: list[Segment] = []
  open_segment: Segment | None = None
  for start_s, end_s, p in zip(starts_s, ends_s, probabilities):
    if p >= threshold:
      if open_segment is not None and start_s <= open_segment.end_s + 1e-6:
        open_segment.end_s = max(open_segment.end_s, float(end_s))
        open_segment.peak_probability = max(open_segment.peak_probability, float(p))
      else:
        open_segment = Segment(float(start_s), float(end_s), float(p))
        segments.append(open_segment)
    else:
      open_segment = None
  return segments


class StreamingSmoother:
  """smooth_probabilities over a sequence that arrives one window at a time.

  Each window's smoothed probability comes out as soon as the (smoothing_windows - 1) / 2
  windows after it are known, and `finish` gives the last ones (their right neighbours
  repeat the last value, as at the end of a file). The values are those of smoothing the
  whole sequence at once: the same medians, the same means up to rounding.
  """

  def __init__(self, smoothing_windows: int = 3, method: str = "median"):
    check_smoothing(smoothing_windows, method)
    self._k, self._method = smoothing_windows, method
    self._half = (smoothing_windows - 1) // 2
    self._recent: collections.deque = collections.deque(maxlen=smoothing_windows)
    self._pushed = 0   # windows pushed
    self._done = 0     # windows whose smoothed value has been given

  @property
  def lag(self) -> int:
    """Windows a smoothed value waits for after its own."""
    return self._half

  def _emit(self, upto: int) -> list:
    """(item, raw, smoothed) of windows _done..upto-1, from the recent windows held."""
    first = self._pushed - len(self._recent)   # index of the oldest window held
    values = smooth_probabilities(np.array([p for _, p in self._recent]), self._k, self._method)
    out = [(self._recent[i - first][0], self._recent[i - first][1], float(values[i - first]))
           for i in range(self._done, upto)]
    self._done = upto
    return out

  def push(self, item, probability: float) -> list:
    """Adds the next window; returns [(item, raw, smoothed)] of the window now decided, if any."""
    self._recent.append((item, float(probability)))
    self._pushed += 1
    return self._emit(self._pushed - self._half) if self._pushed > self._half else []

  def finish(self) -> list:
    """[(item, raw, smoothed)] of the windows still waiting: the sequence has ended."""
    return self._emit(self._pushed) if self._pushed > self._done else []

  def reset(self) -> None:
    """Forgets the sequence (a new stream starts a new one)."""
    self._recent.clear()
    self._pushed = self._done = 0
