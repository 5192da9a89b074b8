"""Probing a media file: what it holds on the media timeline, or why it cannot be used.

The media timeline: time 0 is the earliest start of the file's audio and video
streams (ffprobe's `start_time`; a negative start, i.e. encoder priming, counts
as 0). A stream that starts later, such as audio muxed 0.5 s after the first
frame, keeps its offset: audio before it reads as zeros, never shifted.
media_audio and media_video read their tracks on this timeline.
"""
from __future__ import annotations

import dataclasses
import os
import struct
from typing import Optional

import av
import cv2

REASONS = ("unreadable_path", "empty_file", "not_media", "truncated", "implausible_duration",
           "unsupported_codec", "no_usable_track", "too_short")

# File endings the commands accept as media (PyAV opens more; these are the ones tested).
MEDIA_EXTENSIONS = (".mp4", ".avi", ".webm", ".mkv", ".mov", ".wav", ".ogg", ".mp3", ".flac")
# The audio and video readers seek instead of decoding from the start when the
# first wanted time is this far in.
SEEK_MIN_S = 5.0
# A file whose readable packets end this much before its declared length is truncated.
_TRUNCATION_MIN_S = 0.5
_TRUNCATION_FRACTION = 0.05
# Real media holds more than this per second (compressed silence, about 30); a file whose
# timeline is longer than its size allows has broken timestamps or rates (a jump of 10^7 s,
# a sample rate of 1 Hz), and decoding it would fill hours or years with silence.
_MIN_BYTES_PER_S = 16.0
# Containers whose headers state the real length (raw MP3/AAC/TS only estimate it).
_DECLARED_LENGTH_FORMATS = frozenset(
    ["mov", "mp4", "m4a", "matroska", "webm", "avi", "wav", "w64", "flac", "ogg",
     "asf", "flv", "aiff"])
# (offset, bytes) of container signatures: a file that starts like media but
# cannot be opened is truncated, anything else is not media.
_MEDIA_SIGNATURES = (
    (4, b"ftyp"), (4, b"moov"), (4, b"mdat"), (4, b"free"), (4, b"wide"),
    (0, b"RIFF"), (0, b"\x1aE\xdf\xa3"), (0, b"OggS"), (0, b"fLaC"), (0, b"ID3"),
    (0, b"FORM"), (0, b"FLV"), (0, b"\x30\x26\xb2\x75"), (0, b"\x00\x00\x01\xba"),
    (0, b"\x47"),
)


class MediaError(Exception):
  """A media file that cannot be used, with a machine-readable reason.

  Attributes:
    path: the file.
    reason: one of REASONS.
    detail: one line saying what exactly was wrong.
  """

  def __init__(self, path: str, reason: str, detail: str):
    if reason not in REASONS:
      raise ValueError(f"unknown MediaError reason {reason!r}; choose one of {REASONS}")
    self.path = str(path)
    self.reason = reason
    self.detail = " ".join(str(detail).split())   # always one line
    super().__init__(f"{self.path}: {reason}: {self.detail}")

  def __reduce__(self):
    # Beam pickles exceptions between workers; rebuild from the three fields.
    return (MediaError, (self.path, self.reason, self.detail))


@dataclasses.dataclass(frozen=True)
class MediaInfo:
  """What a file holds, on the media timeline (seconds)."""
  path: str
  duration_s: float
  has_audio: bool
  has_video: bool
  fps: Optional[float]
  width: Optional[int]
  height: Optional[int]
  sample_rate: Optional[int]
  channels: Optional[int]
  audio_start_s: float
  video_start_s: float
  container: str = ""
  audio_codec: Optional[str] = None
  video_codec: Optional[str] = None
  # Tracks present in the file but not decodable here, e.g. "video: av1 (OpenCV cannot decode it)".
  skipped_tracks: tuple[str, ...] = ()


def _read_head(path: str, num_bytes: int = 16) -> tuple[bytes, int]:
  """The first bytes and the size of a readable regular file, or MediaError."""
  if not os.path.exists(path):
    raise MediaError(path, "unreadable_path", "no such file")
  if not os.path.isfile(path):
    raise MediaError(path, "unreadable_path", "not a regular file")
  try:
    with open(path, "rb") as f:
      head = f.read(num_bytes)
    size = os.path.getsize(path)
  except OSError as e:
    raise MediaError(path, "unreadable_path", f"cannot read: {e.strerror or e}") from e
  if size == 0:
    raise MediaError(path, "empty_file", "file has 0 bytes")
  return head, size


def _looks_like_media(head: bytes) -> bool:
  if any(head[offset:offset + len(sig)] == sig for offset, sig in _MEDIA_SIGNATURES):
    return True
  # MPEG audio / ADTS frame sync: 11 set bits.
  return len(head) >= 2 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0


def _check_riff_size(path: str, head: bytes, size: int) -> None:
  """AVI/WAV state their byte length up front: a shorter file was cut off."""
  if head[:4] != b"RIFF" or len(head) < 8:
    return
  declared = struct.unpack("<I", head[4:8])[0]
  if declared in (0, 0xFFFFFFFF):   # written by a streaming muxer: length unknown
    return
  if declared + 8 > size + 1:       # +1: RIFF pads odd chunks
    raise MediaError(path, "truncated",
                     f"RIFF header declares {declared + 8} bytes but the file has {size}")


def open_input(path: str) -> av.container.InputContainer:
  """av.open for reading; tags that are not UTF-8 (a damaged header) are read with
  replacement characters instead of failing the open."""
  return av.open(path, mode="r", metadata_errors="replace")


def _open_container(path: str, head: bytes) -> av.container.InputContainer:
  try:
    return open_input(path)
  except (av.error.FileNotFoundError, av.error.PermissionError, av.error.IsADirectoryError) as e:
    raise MediaError(path, "unreadable_path", str(e)) from e
  except av.error.FFmpegError as e:
    if _looks_like_media(head):
      raise MediaError(path, "truncated",
                       f"starts like a media file but FFmpeg cannot open it ({e.strerror})") from e
    raise MediaError(path, "not_media", f"FFmpeg does not recognise the data ({e.strerror})") from e


def _is_attached_picture(stream: av.stream.Stream) -> bool:
  # Cover art in MP3/FLAC/M4A shows up as a one-frame video stream.
  return bool(stream.disposition & av.stream.Disposition.attached_pic)


def stream_start_s(stream: av.stream.Stream) -> Optional[float]:
  """The stream's start_time in absolute seconds, or None where the file does not state it."""
  if stream.start_time is None or stream.time_base is None:
    return None
  return float(stream.start_time * stream.time_base)


def _opencv_reads(path: str) -> bool:
  cap = cv2.VideoCapture(path, cv2.CAP_FFMPEG)
  try:
    return bool(cap.isOpened() and cap.grab())
  finally:
    cap.release()


def _packets_end_s(container: av.container.InputContainer, streams: list, from_s: float) -> Optional[float]:
  """Latest packet end time (absolute seconds) reading from about from_s; None if nothing read."""
  try:
    container.seek(int(max(from_s, 0.0) * av.time_base), backward=True, any_frame=False)
  except av.error.FFmpegError:
    if from_s > 0:
      return None
  end_s = None
  try:
    for packet in container.demux(*streams):
      ts = packet.pts if packet.pts is not None else packet.dts
      if ts is None or packet.time_base is None:
        continue
      packet_end_s = float((ts + (packet.duration or 0)) * packet.time_base)
      end_s = packet_end_s if end_s is None else max(end_s, packet_end_s)
  except av.error.FFmpegError:
    pass   # a damaged tail: what was read so far is what there is
  return end_s


def _select_streams(path: str, container) -> tuple[Optional[av.stream.Stream], Optional[av.stream.Stream], list[str]]:
  """(audio stream, video stream, skipped track notes); MediaError when none is usable."""
  audio_streams = [s for s in container.streams.audio]
  video_streams = [s for s in container.streams.video if not _is_attached_picture(s)]
  if not audio_streams and not video_streams:
    kinds = sorted({s.type for s in container.streams}) or ["none"]
    raise MediaError(path, "no_usable_track",
                     f"no audio or video track (stream types: {', '.join(kinds)})")
  skipped: list[str] = []
  audio = None
  for s in audio_streams:
    if s.codec_context is not None:
      audio = s
      break
    skipped.append(f"audio #{s.index}: FFmpeg has no decoder for its codec")
  video = None
  for s in video_streams:
    if s.codec_context is None:
      skipped.append(f"video #{s.index}: FFmpeg has no decoder for its codec")
      continue
    if not _opencv_reads(path):
      skipped.append(f"video #{s.index}: OpenCV cannot decode {s.codec_context.name}")
      break   # OpenCV picks the stream itself; no other stream would fare better
    video = s
    break
  if audio is None and video is None:
    raise MediaError(path, "unsupported_codec", "; ".join(skipped))
  return audio, video, skipped


def _declared_end_s(container: av.container.InputContainer) -> Optional[float]:
  """Absolute end time the container's header states; None when it states no length."""
  if container.duration is not None and container.duration > 0:
    container_start_s = (container.start_time or 0) / av.time_base
    return container_start_s + container.duration / av.time_base
  return None


def _measured_end_s(container: av.container.InputContainer, streams: list,
                    declared_end_s: Optional[float]) -> Optional[float]:
  """Where the packets really end: cheap when seeking near the declared end works."""
  measured_end_s = None
  if declared_end_s is not None:
    measured_end_s = _packets_end_s(container, streams, declared_end_s - 3.0)
  if measured_end_s is None:
    measured_end_s = _packets_end_s(container, streams, 0.0)
  return measured_end_s


def _check_not_truncated(path: str, container: av.container.InputContainer, origin_s: float,
                         declared_end_s: Optional[float], measured_end_s: Optional[float]) -> None:
  """MediaError "truncated" when packets end well before the length a trusted header declares."""
  format_names = set(container.format.name.split(","))
  if (declared_end_s is not None and measured_end_s is not None
      and format_names & _DECLARED_LENGTH_FORMATS):
    missing_s = declared_end_s - measured_end_s
    if missing_s > max(_TRUNCATION_MIN_S, _TRUNCATION_FRACTION * (declared_end_s - origin_s)):
      raise MediaError(path, "truncated",
                       f"header declares {declared_end_s - origin_s:.3f} s but packets end at "
                       f"{measured_end_s - origin_s:.3f} s")


def probe(path: str) -> MediaInfo:
  """What a media file holds, checked for the usual ways a file can be bad.

  Raises:
    MediaError: reason "unreadable_path" (missing, a folder, no permission),
      "empty_file", "not_media", "truncated" (cut off: its header or index
      promises more than the file holds), "implausible_duration" (its
      timestamps span more time than its bytes could hold), "unsupported_codec"
      (no track can be decoded) or "no_usable_track" (no audio and no video track at all).
  """
  path = os.fspath(path)
  head, size = _read_head(path)
  _check_riff_size(path, head, size)
  container = _open_container(path, head)
  try:
    audio, video, skipped = _select_streams(path, container)
    used = [s for s in (audio, video) if s is not None]
    starts = [t for t in (stream_start_s(s) for s in used) if t is not None]
    origin_s = max(min(starts), 0.0) if starts else 0.0
    declared_end_s = _declared_end_s(container)
    measured_end_s = _measured_end_s(container, used, declared_end_s)
    _check_not_truncated(path, container, origin_s, declared_end_s, measured_end_s)
    end_s = measured_end_s if measured_end_s is not None else declared_end_s
    if end_s is None:
      raise MediaError(path, "not_media", "no timestamped packets in any audio or video track")
    if end_s - origin_s > size / _MIN_BYTES_PER_S:
      raise MediaError(path, "implausible_duration",
                       f"its timestamps span {end_s - origin_s:.1f} s but the file has only {size} "
                       f"bytes (under {_MIN_BYTES_PER_S:g} per second): broken timestamps or rates")
    fps = None
    if video is not None:
      rate = video.average_rate or video.guessed_rate
      fps = float(rate) if rate else None
    return MediaInfo(
        path=path,
        duration_s=max(end_s - origin_s, 0.0),
        has_audio=audio is not None,
        has_video=video is not None,
        fps=fps,
        width=video.codec_context.width if video is not None else None,
        height=video.codec_context.height if video is not None else None,
        sample_rate=audio.codec_context.sample_rate if audio is not None else None,
        channels=audio.codec_context.channels if audio is not None else None,
        audio_start_s=_timeline_start_s(audio, origin_s),
        video_start_s=_timeline_start_s(video, origin_s),
        container=container.format.name,
        audio_codec=audio.codec_context.name if audio is not None else None,
        video_codec=video.codec_context.name if video is not None else None,
        skipped_tracks=tuple(skipped),
    )
  finally:
    container.close()


def _timeline_start_s(stream: Optional[av.stream.Stream], origin_s: float) -> float:
  # Negative only for a stream that starts before 0 (encoder priming).
  if stream is None:
    return 0.0
  start = stream_start_s(stream)
  return (start if start is not None else origin_s) - origin_s
