"""A live stream's windows scored as its audio arrives, by the code that scores a file's.

The stream's samples sit on a data.stream_timeline.StreamTimeline; a window is
cut once its audio, and the filters' context after it (media_audio.CONTEXT_S),
has arrived. From there on it is detection's path: a window model's windows go
through media_windows.window_audio, features.window_features and
Detector.window_inputs/predict; a model on YAMNet patches gets each patch once
through patch_scoring.PatchWindows. When the stream ends, the windows left are
those media_windows.window_starts plans for a file of the stream's length, a
padded last one included. So the scores of a recording streamed live equal
`detect`'s scores of the file (tests/test_listen_scoring.py).
"""
from __future__ import annotations

import dataclasses
import math
from typing import Callable, Optional

import numpy as np

from babycry_jax import patch_scoring
from babycry_jax.data import features, media_audio, media_windows, schema, yamnet_features
from babycry_jax.data.stream_timeline import StreamTimeline
from babycry_jax.detection import Detector


@dataclasses.dataclass
class ScoredWindow:
  """One window of a stream: its bounds on the stream's timeline (s) and the model's probability."""
  start_s: float
  end_s: float
  padded: bool
  probability: float


# A strip of log-mel frames [T, n_mels] starting at start_s, for the live timeline plot.
LogMelSink = Callable[[float, np.ndarray], None]


class StreamScorer:
  """Scores windows of window_s every hop_s (snapped as detect snaps it) over a live stream."""

  def __init__(self, detector: Detector, hop_s: float, log_mel_sink: Optional[LogMelSink] = None):
    detector.plan_modalities("the stream", has_audio=True, has_video=False)   # DetectError if video-only
    self.detector = detector
    self.spec = detector.spec
    self.hop_s = detector.hop(hop_s)
    self._sink = log_mel_sink
    self._next_window = 0
    patches = detector.patch_scorer
    self._patches = None if patches is None else patch_scoring.PatchWindows(
        patches, patch_scoring.hop_patches(self.hop_s))

  @property
  def keep_s(self) -> float:
    """Seconds of audio the stream's timeline must hold: a window, a hop and the filters' context."""
    return self.spec.window_s + 2 * self.hop_s + 2 * media_audio.CONTEXT_S + 1.0

  def new_timeline(self, rate: int) -> StreamTimeline:
    return StreamTimeline(rate, self.keep_s)

  def _plan(self, timeline: StreamTimeline) -> tuple[list[float], list[tuple[float, float]]]:
    """(starts of full windows not scored yet, (start, content_s) of a padded last window)."""
    hop, window_s = self.hop_s, self.spec.window_s
    if not timeline.ended:
      count = math.floor((timeline.received_s - media_audio.CONTEXT_S - window_s) / hop + 1e-9) + 1
      return [k * hop for k in range(self._next_window, max(count, self._next_window))], []
    duration_s = timeline.received_s
    plan = media_windows.window_starts(duration_s, self.spec, hop)
    full = [start for start, padded in plan if not padded][self._next_window:]
    tail = [(start, min(duration_s - start, window_s)) for start, padded in plan if padded]
    return full, tail

  def score(self, timeline: StreamTimeline) -> list[ScoredWindow]:
    """The windows whose audio has arrived since the last call (all that are left once the
    timeline has ended), in time order."""
    full, tail = self._plan(timeline)
    if self._patches is None:
      out = self._score_windows(timeline, [(s, None) for s in full] + tail)
    else:
      out = self._score_patches(timeline, len(full)) + [
          ScoredWindow(start, start + content, True, self.detector.patch_scorer.padded_probability(
              media_audio.audio_16k(timeline, self.spec, start, self.spec.window_s, content)))
          for start, content in tail]
    self._next_window += len(full)
    return out

  def _score_windows(self, timeline: StreamTimeline,
                     planned: list[tuple[float, Optional[float]]]) -> list[ScoredWindow]:
    """A window model's windows: (start_s, content_s or None for a full window) each."""
    detector, spec = self.detector, self.spec
    out, examples = [], []
    for start_s, content_s in planned:
      audio, audio_16k = media_windows.window_audio(timeline, spec, start_s, content_s)
      # As a file's: a full window may end up to a tolerance past the end of the audio.
      length_s = content_s if content_s is not None else (
          min(timeline.received_s - start_s, spec.window_s) if timeline.ended else spec.window_s)
      window = media_windows.Window(start_s=float(start_s), duration_s=float(length_s), audio=audio,
                                    frames=None, padded=content_s is not None, audio_16k=audio_16k)
      feats = features.window_features(window, spec)
      if self._sink is not None:
        hop_frames = max(1, int(round(min(self.hop_s, length_s) * spec.sample_rate / spec.stft_hop)))
        self._sink(start_s, feats[schema.LOG_MEL][:hop_frames].astype(np.float32))
      examples.append(detector.window_inputs(feats))
      out.append(ScoredWindow(float(start_s), float(start_s + length_s), content_s is not None, 0.0))
    for first in range(0, len(examples), detector.batch_size):
      batch = examples[first:first + detector.batch_size]
      for scored, p in zip(out[first:first + len(batch)], detector.predict(batch)):
        scored.probability = float(p)
    return out

  def _score_patches(self, timeline: StreamTimeline, num_full: int) -> list[ScoredWindow]:
    """A patch model's next num_full full windows, their new patches each computed once."""
    if num_full == 0:
      return []
    windows = self._patches
    last_window = self._next_window + num_full - 1
    first = windows.received
    last = last_window * patch_scoring.hop_patches(self.hop_s) + windows.patches_per_window
    start_s, duration_s = patch_scoring.patch_span(first, last)
    log_mel = patch_scoring.patch_log_mel(
        media_audio.audio_16k(timeline, self.spec, start_s, duration_s))
    if self._sink is not None:
      self._sink(start_s, log_mel[:(last - first) * yamnet_features.PATCH_HOP_FRAMES])
    return [ScoredWindow(w * self.hop_s, w * self.hop_s + self.spec.window_s, False, p)
            for w, p in windows.push(yamnet_features.patches(log_mel)[:last - first])]
