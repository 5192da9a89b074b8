"""A bounded, averaged copy of a file's log-mel for the timeline plot detection draws."""
from __future__ import annotations

import math

import numpy as np

from babycry_jax.data import schema

# Spectrogram columns kept for the timeline strip; longer files are averaged down.
_TIMELINE_COLUMNS = 1200


class SpectrogramStrip:
  """Keeps a bounded, averaged copy of the log-mel of each window's first hop for the plot."""

  def __init__(self, spec: schema.FeatureSpec, hop_s: float, num_windows: int):
    frames_per_s = spec.sample_rate / spec.stft_hop
    self._take = max(1, int(round(min(hop_s, spec.window_s) * frames_per_s)))
    total = self._take * max(num_windows, 1)
    self._pool = max(1, math.ceil(total / _TIMELINE_COLUMNS))
    self._pool = min(self._pool, self._take)
    self._frame_s = 1.0 / frames_per_s
    self._columns: list[np.ndarray] = []
    self._times: list[np.ndarray] = []
    self._last: tuple[float, np.ndarray, int] | None = None

  def add(self, start_s: float, log_mel: np.ndarray, content_s: float) -> None:
    """log_mel [mel_frames, n_mels] dB of the window starting at start_s."""
    content_frames = max(1, int(round(content_s / self._frame_s)))
    self.append(start_s, log_mel[:min(self._take, content_frames)])
    # The last window also shows past its first hop; kept until the stream ends.
    self._last = (start_s, log_mel, content_frames)

  def append(self, start_s: float, log_mel: np.ndarray) -> None:
    """Frames [T, n_mels] from start_s, all of them (not a window's first hop)."""
    part = np.asarray(log_mel, np.float32)
    columns = len(part) // self._pool
    if columns == 0:
      pooled = part.mean(axis=0, keepdims=True)
    else:
      pooled = part[:columns * self._pool].reshape(columns, self._pool, -1).mean(axis=1)
    self._columns.append(pooled.astype(np.float16))
    self._times.append(start_s + np.arange(len(pooled)) * self._pool * self._frame_s)

  def result(self) -> tuple[np.ndarray | None, np.ndarray | None]:
    """([n_mels, T] dB columns, [T] their times in seconds), or (None, None) without audio."""
    if not self._columns:
      return None, None
    if self._last is not None:
      start_s, log_mel, content_frames = self._last
      if content_frames > self._take:
        self.append(start_s + self._take * self._frame_s, log_mel[self._take:content_frames])
      self._last = None
    return np.concatenate(self._columns).T.astype(np.float32), np.concatenate(self._times)
