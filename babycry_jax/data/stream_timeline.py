"""A live stream's audio on its own timeline: the AudioTimeline of a source that has no end yet.

Samples arrive in chunks of any size (a sound card's blocks, a network stream's
frames, raw PCM from a pipe) at the stream's native rate, mono. They are served
by timeline index exactly like data.media_audio.AudioTimeline serves a file's:
zeros before the first sample and, once the stream has ended, after the last.
So media_audio.resampled and media_audio.audio_16k cut a live stream's windows
with the same code, and the same numbers, as a file's. Only the last `keep_s`
seconds are held: memory does not grow with the stream's length.
"""
from __future__ import annotations

import numpy as np


class StreamTimeline:
  """Native-rate mono samples of a live stream, by timeline index (sample 0 = the first heard)."""

  def __init__(self, rate: int, keep_s: float):
    if rate <= 0:
      raise ValueError(f"sample rate must be positive, got {rate}")
    self.rate = int(rate)
    self._keep = max(1, int(np.ceil(keep_s * rate)))
    # Twice the history, so that appending moves the kept samples only now and then.
    self._buffer = np.zeros(2 * self._keep, np.float32)
    self._first = 0      # timeline index of _buffer[0]
    self._filled = 0     # samples held in _buffer
    self.ended = False

  @property
  def received(self) -> int:
    """Samples heard so far: the timeline index one past the newest."""
    return self._first + self._filled

  @property
  def received_s(self) -> float:
    return self.received / self.rate

  def append(self, samples: np.ndarray) -> None:
    """Adds float32 [n] mono samples at the end of the timeline."""
    if self.ended:
      raise ValueError("the stream has ended")
    samples = np.asarray(samples, np.float32).reshape(-1)
    if len(samples) >= self._keep:   # a chunk longer than the history keeps only its tail
      self._first += self._filled + len(samples) - self._keep
      self._buffer[:self._keep] = samples[-self._keep:]
      self._filled = self._keep
      return
    if self._filled + len(samples) > len(self._buffer):
      drop = self._filled + len(samples) - self._keep
      self._buffer[:self._filled - drop] = self._buffer[drop:self._filled]
      self._first += drop
      self._filled -= drop
    self._buffer[self._filled:self._filled + len(samples)] = samples
    self._filled += len(samples)

  def end(self) -> None:
    """The stream ended: samples past the last one now read as zeros, as after a file's end."""
    self.ended = True

  def samples(self, first: int, count: int) -> np.ndarray:
    """float32 [count]: samples first..first+count of the timeline, zeros before the stream.

    Raises ValueError for samples no longer held, or not yet heard while the stream goes on:
    a caller that asks for them would get numbers a file would not give.
    """
    end = first + count
    if end > self.received and not self.ended:
      raise ValueError(f"samples up to {end} asked for, {self.received} heard so far")
    if first < self._first and end > 0 and self._first > 0:
      raise ValueError(f"samples from {first} asked for, only those from {self._first} are kept")
    out = np.zeros(count, np.float32)
    lo, hi = max(first, self._first), min(end, self.received)
    if hi > lo:
      out[lo - first:hi - first] = self._buffer[lo - self._first:hi - self._first]
    return out
