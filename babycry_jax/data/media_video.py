"""A file's video frames on the media timeline (see media_probe).

Video is decoded with OpenCV; a frame's time is its presentation timestamp
(CAP_PROP_POS_MSEC), never a frame count, because frame rates can be fractional
or wrong. It is decoded incrementally, so memory stays bounded for long files.
"""
from __future__ import annotations

import os
from typing import Optional, Sequence

import cv2
import numpy as np

from babycry_jax.data import media_probe

# Video decoding restarts this far before the first wanted time after a seek.
_VIDEO_SEEK_BACK_S = 2.0


def _convert_frame(bgr: np.ndarray, size: int, channels: int) -> np.ndarray:
  """uint8 [size, size, channels] from an OpenCV BGR image (stretched, INTER_AREA)."""
  if channels == 1:
    image = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
  elif channels == 3:
    image = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
  else:
    raise ValueError(f"channels must be 1 (gray) or 3 (RGB), got {channels}")
  image = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
  return image.reshape(size, size, channels)


class _VideoFrame:
  """One decoded frame: its timeline time, its BGR pixels, converted on first use."""
  __slots__ = ("time_s", "bgr", "_image")

  def __init__(self, time_s: float, bgr: np.ndarray):
    self.time_s, self.bgr, self._image = time_s, bgr, None

  def image(self, size: int, channels: int) -> np.ndarray:
    if self._image is None:
      self._image = _convert_frame(self.bgr, size, channels)
    return self._image


class FrameReader:
  """Streams a video with OpenCV and answers "which frame shows time t" for non-decreasing t.

  The answer is the frame with the latest presentation timestamp <= t, or the
  first frame for times before it, or the last frame for times after the end.
  Only the two frames around t are held, so long videos cost little memory.
  Every frame is fetched (real files skip frames: a study AVI jumps from 0 to
  120 ms), but only answers are converted and resized.
  """

  def __init__(self, path: str, info: media_probe.MediaInfo, size: int, channels: int,
               first_needed_s: float):
    if channels not in (1, 3):
      raise ValueError(f"channels must be 1 (gray) or 3 (RGB), got {channels}")
    self._path, self._size, self._channels = path, size, channels
    self._offset_s = info.video_start_s
    self._prev: Optional[_VideoFrame] = None
    self._cap, self._ahead = self._open(first_needed_s)
    if self._ahead is None:
      self._ahead = self._next_frame()
      if self._ahead is None:
        self._cap.release()
        raise media_probe.MediaError(path, "unsupported_codec", "OpenCV decoded no video frame")

  def _open(self, first_needed_s: float) -> tuple[cv2.VideoCapture, Optional[_VideoFrame]]:
    """An open capture and, after a seek, the first frame it landed on."""
    cap = cv2.VideoCapture(self._path, cv2.CAP_FFMPEG)
    if not cap.isOpened():
      raise media_probe.MediaError(self._path, "unsupported_codec", "OpenCV cannot open the video track")
    seek_s = first_needed_s - _VIDEO_SEEK_BACK_S
    if seek_s <= media_probe.SEEK_MIN_S:
      return cap, None
    # OpenCV seeks by frame counts derived from fps, which may be wrong: check
    # where it landed by timestamp and decode from the start after an overshoot.
    self._cap = cap
    cap.set(cv2.CAP_PROP_POS_MSEC, (seek_s - self._offset_s) * 1000.0)
    landed = self._next_frame()
    if landed is not None and landed.time_s <= first_needed_s:
      return cap, landed
    cap.release()
    return cv2.VideoCapture(self._path, cv2.CAP_FFMPEG), None

  def close(self) -> None:
    self._cap.release()

  def _next_frame(self) -> Optional[_VideoFrame]:
    if not self._cap.grab():
      return None
    time_s = self._cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0 + self._offset_s
    ok, bgr = self._cap.retrieve()
    if not ok or bgr is None:
      return None
    return _VideoFrame(time_s, bgr)

  def frame_at(self, t: float) -> np.ndarray:
    """uint8 [size, size, channels]: the frame on screen at timeline time t."""
    while self._ahead is not None and self._ahead.time_s <= t:
      self._prev, self._ahead = self._ahead, self._next_frame()
    frame = self._prev if self._prev is not None else self._ahead
    return frame.image(self._size, self._channels)


def read_frames(path: str, times_s: Sequence[float], size: int, channels: int) -> np.ndarray:
  """Video frames shown at the given timeline times.

  For each time the frame whose presentation timestamp is the latest one <= it
  (the first frame for times before it; the last frame for times after the end).

  Returns:
    uint8 [len(times_s), size, size, channels]; channels 1 = gray, 3 = RGB.
  """
  path = os.fspath(path)
  info = media_probe.probe(path)
  if not info.has_video:
    raise media_probe.MediaError(path, "no_usable_track", "no decodable video track")
  times = np.asarray(times_s, dtype=np.float64).reshape(-1)
  out = np.zeros((len(times), size, size, channels), np.uint8)
  if len(times) == 0:
    return out
  order = np.argsort(times, kind="stable")
  reader = FrameReader(path, info, size, channels, float(times[order[0]]))
  try:
    for i in order:
      out[i] = reader.frame_at(float(times[i]))
  finally:
    reader.close()
  return out
