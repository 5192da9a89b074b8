"""Windows of media: the fixed-length pieces of a file that records and detection are made of.

Preprocessing and detection both cut windows with these functions, so a served
window is decoded exactly like a training window. Each window holds its audio
(media_audio) and its frames (media_video) on the media timeline (media_probe).
"""
from __future__ import annotations

import dataclasses
import math
import os
from typing import Iterator, Optional, Sequence

import numpy as np

from babycry_jax.data import media_audio, media_probe, media_video
from babycry_jax.data.schema import FeatureSpec

# A window that misses less than this much media at its end (codec padding,
# rounding of the last frame) still counts as full.
FULL_WINDOW_TOLERANCE_S = 0.05


def frame_times(start_s: float, spec: FeatureSpec) -> np.ndarray:
  """float64 [spec.num_frames]: centres of num_frames equal parts of the window."""
  step_s = spec.window_s / spec.num_frames
  return start_s + (np.arange(spec.num_frames, dtype=np.float64) + 0.5) * step_s


@dataclasses.dataclass
class Window:
  """One window of media: spec.window_s long starting at start_s.

  duration_s is the length of real media inside the window (less than
  spec.window_s only when padded; the rest of a padded window loops that
  media, see loop_to_length). audio: float32 [spec.window_samples] or None
  without an audio track; audio_16k: the same audio upsampled to YAMNet's
  16 kHz (so band-limited like it), float32 [window_s * 16000], or None;
  frames: uint8 [spec.num_frames, size, size, C] or None without a video track.
  """
  start_s: float
  duration_s: float
  audio: Optional[np.ndarray]
  frames: Optional[np.ndarray]
  padded: bool
  audio_16k: Optional[np.ndarray] = None


def loop_to_length(content: np.ndarray, length: int) -> np.ndarray:
  """float32 [length]: audio content [n] repeated end to end and cut to length.

  How a window shorter than spec.window_s is filled: the padded window equals
  the window of the same sound played in a loop, so padding carries no signal
  a model could learn (zeros or a frozen last frame would).
  """
  if len(content) == 0:
    raise ValueError("cannot loop empty content")
  return np.resize(np.asarray(content, np.float32), length)


def window_audio(timeline, spec: FeatureSpec, start_s: float,
                 content_s: Optional[float] = None) -> tuple[np.ndarray, np.ndarray]:
  """(audio [spec.window_samples], audio_16k [window_s * 16000]) of the window at start_s.

  `timeline` serves native-rate samples by index (media_audio.AudioTimeline for a
  file, stream_timeline.StreamTimeline for a live stream). With content_s, the
  window is padded: its audio after content_s loops the content, as a file's last
  window does.
  """
  audio = media_audio.resampled(timeline, spec.sample_rate, start_s, spec.window_samples)
  audio_16k = media_audio.audio_16k(timeline, spec, start_s, spec.window_s, content_s)
  if content_s is not None:
    audio = loop_to_length(audio[:int(round(content_s * spec.sample_rate))], spec.window_samples)
  return audio, audio_16k


class _WindowReader:
  """Cuts a planned sequence of windows (non-decreasing starts) from one file in one pass.

  Windows may overlap (hop < window), so frame times of consecutive windows
  interleave: all requested times are resolved in one sorted pass over the
  video, and each window is handed out as soon as its last frame is known.
  Only frames of windows not yet handed out are held.
  """

  def __init__(self, path: str, info: media_probe.MediaInfo, spec: FeatureSpec,
               plan: Sequence[tuple[float, float]]):
    """plan: (start_s, content_end_s) per window; media after content_end_s reads as padding."""
    self._info, self._spec, self._plan = info, spec, list(plan)
    first_start_s = self._plan[0][0]
    self._audio = media_audio.AudioTimeline(path, info, first_start_s) if info.has_audio else None
    self._video = None
    if info.has_video:
      self._video = media_video.FrameReader(path, info, spec.frame_size, spec.channels,
                                            float(frame_times(first_start_s, spec)[0]))

  def close(self) -> None:
    if self._audio is not None:
      self._audio.close()
    if self._video is not None:
      self._video.close()

  def _content_s(self, start_s: float, content_end_s: float) -> float:
    return min(content_end_s - start_s, self._spec.window_s)

  def _frame_times(self, start_s: float, content_end_s: float) -> np.ndarray:
    times = frame_times(start_s, self._spec)
    # Past the content end the content plays again from its start, as in a looped file.
    content_s = self._content_s(start_s, content_end_s)
    return np.where(times < start_s + content_s, times, start_s + np.mod(times - start_s, content_s))

  def windows(self) -> Iterator[Window]:
    spec = self._spec
    requests: list[tuple[float, int, int]] = []   # (time, window, frame slot), sorted by time
    if self._video is not None:
      requests = sorted((float(t), k, j) for k, (start_s, end_s) in enumerate(self._plan)
                        for j, t in enumerate(self._frame_times(start_s, end_s)))
    last_request = {k: i for i, (_, k, _) in enumerate(requests)}
    resolved: dict[tuple[int, int], np.ndarray] = {}
    next_request = 0
    for k, (start_s, content_end_s) in enumerate(self._plan):
      content_s = self._content_s(start_s, content_end_s)
      padded = content_s < spec.window_s - FULL_WINDOW_TOLERANCE_S
      audio = audio_16k = None
      if self._audio is not None:
        audio, audio_16k = window_audio(self._audio, spec, start_s, content_s if padded else None)
      frames = None
      if self._video is not None:
        while next_request <= last_request[k]:
          t, window, slot = requests[next_request]
          resolved[(window, slot)] = self._video.frame_at(t)
          next_request += 1
        frames = np.stack([resolved.pop((k, j)) for j in range(spec.num_frames)])
      yield Window(start_s=float(start_s), duration_s=float(content_s), audio=audio,
                   frames=frames, padded=bool(padded), audio_16k=audio_16k)


def _check_spec(spec: FeatureSpec) -> None:
  if spec.short_policy not in ("pad", "skip"):
    raise ValueError(f"short_policy must be 'pad' or 'skip', got {spec.short_policy!r}")


def window_starts(duration_s: float, spec: FeatureSpec, hop_s: float) -> list[tuple[float, bool]]:
  """(start_s, padded) of the windows iter_windows cuts from media of this length.

  Full windows every hop_s; then, with short_policy "pad", one padded window
  for a remaining tail that holds at least spec.min_duration_s of new media.
  """
  if hop_s <= 0:
    raise ValueError(f"hop_s must be positive, got {hop_s}")
  starts: list[tuple[float, bool]] = []
  if duration_s + FULL_WINDOW_TOLERANCE_S >= spec.window_s:
    num_full = int(math.floor((duration_s + FULL_WINDOW_TOLERANCE_S - spec.window_s) / hop_s + 1e-9)) + 1
    starts = [(k * hop_s, False) for k in range(num_full)]
  covered_s = starts[-1][0] + spec.window_s if starts else 0.0
  tail_start_s = len(starts) * hop_s
  if (spec.short_policy == "pad" and duration_s - covered_s > FULL_WINDOW_TOLERANCE_S
      and duration_s - tail_start_s >= spec.min_duration_s):
    starts.append((tail_start_s, True))
  return starts


def iter_windows(path: str, spec: FeatureSpec, hop_s: Optional[float] = None, *,
                 start_s: float = 0.0, end_s: Optional[float] = None) -> Iterator[Window]:
  """Windows of spec.window_s every hop_s over a recording (or its [start_s, end_s) part).

  Decodes incrementally: an hour of video is never held at once. A final
  partial window, or an input shorter than one window, is filled by looping its
  content (audio tiled, video frames shown again from the content's start) with
  padded=True under short_policy "pad", and dropped under "skip". A missing
  track gives None, never invented data.

  Raises:
    MediaError: the file is bad (see media_probe.probe), or its usable span is
      shorter than spec.min_duration_s (reason "too_short").
  """
  path = os.fspath(path)
  _check_spec(spec)
  hop_s = spec.hop_s if hop_s is None else hop_s
  info = media_probe.probe(path)
  media_end_s = info.duration_s if end_s is None else min(end_s, info.duration_s)
  span_s = media_end_s - start_s
  if span_s < spec.min_duration_s:
    raise media_probe.MediaError(path, "too_short",
                                 f"{max(span_s, 0.0):.3f} s of media from {start_s:.3f} s, "
                                 f"less than the minimum {spec.min_duration_s:g} s")
  plan = window_starts(span_s, spec, hop_s)
  if not plan:
    return
  reader = _WindowReader(path, info, spec, [(start_s + offset_s, media_end_s) for offset_s, _ in plan])
  try:
    yield from reader.windows()
  finally:
    reader.close()


def window_at(path: str, spec: FeatureSpec, start_s: float, duration_s: Optional[float] = None) -> Window:
  """One window of spec.window_s starting at start_s, with at most duration_s of media in it.

  duration_s None means a full window; a shorter duration_s (a manifest segment
  ending early) or the end of the media makes a padded window. A segment longer
  than one window keeps its first spec.window_s: use iter_windows(start_s=,
  end_s=) to cover all of it.

  Raises:
    MediaError: the file is bad, or the window holds less than
      spec.min_duration_s of media, or it would be padded under short_policy "skip"
      (reason "too_short").
  """
  path = os.fspath(path)
  _check_spec(spec)
  info = media_probe.probe(path)
  limit_s = spec.window_s if duration_s is None else min(duration_s, spec.window_s)
  content_end_s = min(start_s + limit_s, info.duration_s)
  content_s = content_end_s - start_s
  if content_s < spec.min_duration_s:
    raise media_probe.MediaError(
        path, "too_short",
        f"window at {start_s:.3f} s holds {max(content_s, 0.0):.3f} s of media "
        f"(media length {info.duration_s:.3f} s), less than {spec.min_duration_s:g} s")
  if content_s < spec.window_s - FULL_WINDOW_TOLERANCE_S and spec.short_policy == "skip":
    raise media_probe.MediaError(
        path, "too_short",
        f"window at {start_s:.3f} s holds only {content_s:.3f} s of a "
        f"{spec.window_s:g} s window and short_policy is 'skip'")
  reader = _WindowReader(path, info, spec, [(start_s, content_end_s)])
  try:
    return next(reader.windows())
  finally:
    reader.close()
