"""Media decoding onto one timeline: probe a file, read its audio and frames, cut windows.

Preprocessing and detection both call these functions, so a served window is
decoded exactly like a training window.

The media timeline: time 0 is the earliest start of the file's audio and video
streams (ffprobe's `start_time`; a negative start, i.e. encoder priming, counts
as 0). A stream that starts later, such as audio muxed 0.5 s after the first
frame, keeps its offset: audio before it reads as zeros, never shifted.

Audio is decoded with PyAV (FFmpeg inside the wheel, any container), placed on
the timeline by each frame's timestamp at its native rate, downmixed to mono
and resampled with a polyphase filter (scipy.signal.resample_poly). Video is
decoded with OpenCV; a frame's time is its presentation timestamp
(CAP_PROP_POS_MSEC), never a frame count, because frame rates can be fractional
or wrong. Both are decoded incrementally, so memory stays bounded for long files.
"""
from __future__ import annotations

import dataclasses
import functools
import math
import os
import struct
from typing import Iterator, Optional, Sequence

import av
import cv2
import numpy as np
import scipy.signal

from babycry_jax.data import yamnet_features
from babycry_jax.data.schema import FeatureSpec

REASONS = ("unreadable_path", "empty_file", "not_media", "truncated",
           "unsupported_codec", "no_usable_track", "too_short")

# A window that misses less than this much media at its end (codec padding,
# rounding of the last frame) still counts as full.
FULL_WINDOW_TOLERANCE_S = 0.05

# File endings the commands accept as media (PyAV opens more; these are the ones tested).
MEDIA_EXTENSIONS = (".mp4", ".avi", ".webm", ".mkv", ".mov", ".wav", ".ogg", ".mp3", ".flac")
# Packet timestamps may jitter (millisecond time bases); audio frames that land
# within this distance of where the previous frame ended are taken as contiguous.
_AUDIO_CONTIGUITY_S = 0.01
# Audio decoded before the requested start after a seek, so that decoders with
# inter-frame state (MP3 bit reservoir) are settled when the wanted part begins.
_AUDIO_PREROLL_S = 0.5
# Extra audio either side of a resampled span, so the filter has real context.
_RESAMPLE_MARGIN_S = 0.02
# The same for YAMNet's 16 kHz audio, made from the spec-rate audio: 40 ms is a whole number
# of samples at every rate divisible by 25 Hz, so the spec-rate samples keep their grid.
_UPSAMPLE_MARGIN_S = 0.04
# How far before its previous request the audio timeline may be asked to start: a window's
# 16 kHz audio starts both margins before its spec-rate audio.
_HISTORY_S = _UPSAMPLE_MARGIN_S + _RESAMPLE_MARGIN_S
# Seek instead of decoding from the start when the first wanted time is this far in.
_SEEK_MIN_S = 5.0
# Video decoding restarts this far before the first wanted time after a seek.
_VIDEO_SEEK_BACK_S = 2.0
# A file whose readable packets end this much before its declared length is truncated.
_TRUNCATION_MIN_S = 0.5
_TRUNCATION_FRACTION = 0.05
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


def frame_times(start_s: float, spec: FeatureSpec) -> np.ndarray:
  """float64 [spec.num_frames]: centres of num_frames equal parts of the window."""
  step_s = spec.window_s / spec.num_frames
  return start_s + (np.arange(spec.num_frames, dtype=np.float64) + 0.5) * step_s


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


# ----------------------------------------------------------------------------- probing


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


def _open_container(path: str, head: bytes) -> av.container.InputContainer:
  try:
    return av.open(path, mode="r")
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


def _stream_start_s(stream: av.stream.Stream) -> Optional[float]:
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
      promises more than the file holds), "unsupported_codec" (no track can be
      decoded) or "no_usable_track" (no audio and no video track at all).
  """
  path = os.fspath(path)
  head, size = _read_head(path)
  _check_riff_size(path, head, size)
  container = _open_container(path, head)
  try:
    audio, video, skipped = _select_streams(path, container)
    used = [s for s in (audio, video) if s is not None]
    starts = [t for t in (_stream_start_s(s) for s in used) if t is not None]
    origin_s = max(min(starts), 0.0) if starts else 0.0
    declared_end_s = _declared_end_s(container)
    measured_end_s = _measured_end_s(container, used, declared_end_s)
    _check_not_truncated(path, container, origin_s, declared_end_s, measured_end_s)
    end_s = measured_end_s if measured_end_s is not None else declared_end_s
    if end_s is None:
      raise MediaError(path, "not_media", "no timestamped packets in any audio or video track")
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
  start = _stream_start_s(stream)
  return (start if start is not None else origin_s) - origin_s


def _origin_s(info: MediaInfo, stream: av.stream.Stream, stream_offset_s: float) -> float:
  """Absolute time of the timeline's 0, from a stream whose timeline offset is known."""
  start = _stream_start_s(stream)
  return (start if start is not None else 0.0) - stream_offset_s


# ----------------------------------------------------------------------------- audio


def _frame_to_mono(frame: av.AudioFrame) -> np.ndarray:
  """float32 [samples]: the mean of all channels, scaled to [-1, 1]."""
  data = frame.to_ndarray()
  channels = frame.layout.nb_channels
  if not frame.format.is_planar:
    data = data.reshape(-1, channels).T
  if data.dtype == np.uint8:
    data = (data.astype(np.float32) - 128.0) / 128.0
  elif np.issubdtype(data.dtype, np.integer):
    data = data.astype(np.float32) / float(np.iinfo(data.dtype).max + 1)
  data = data.astype(np.float32, copy=False)
  if data.shape[0] == 1:
    return data[0]
  return np.add.reduce(data, axis=0) * np.float32(1.0 / data.shape[0])


class _AudioTimeline:
  """Decodes one file's audio in order, serving mono native-rate samples by timeline index.

  Requests must not move backwards (their first index never decreases), which
  lets it drop decoded frames behind them: memory stays at about one request,
  also across long gaps in the track (those read as zeros without being stored).
  """

  def __init__(self, path: str, info: MediaInfo, first_needed_s: float):
    self._path = path
    self._info = info
    self._start(seek_s=first_needed_s - _AUDIO_PREROLL_S)

  def _start(self, seek_s: float) -> None:
    self._container = av.open(self._path)
    # The same stream probe chose: the first one with a decoder.
    self._stream = next(s for s in self._container.streams.audio if s.codec_context is not None)
    self.rate = int(self._stream.codec_context.sample_rate)
    self._time_base_s = float(self._stream.time_base)
    self._origin_s = _origin_s(self._info, self._stream, self._info.audio_start_s)
    # Decoded frames as (first timeline index at the native rate, mono samples), in order.
    self._segments: list[tuple[int, np.ndarray]] = []
    self._decoded_end = -math.inf    # one past the last decoded sample
    self._next_index: Optional[int] = None   # where the previous frame ended
    self._eof = False
    self._seeked = False
    if seek_s > _SEEK_MIN_S:
      try:
        target = int((seek_s + self._origin_s) / self._stream.time_base)
        self._container.seek(target, stream=self._stream, backward=True, any_frame=False)
        self._seeked = True
      except av.error.FFmpegError:
        self._container.seek(0)
    self._frames = self._decode()

  def _decode(self) -> Iterator[av.AudioFrame]:
    try:
      for packet in self._container.demux(self._stream):
        try:
          yield from packet.decode()
        except av.error.InvalidDataError:
          continue   # a damaged packet leaves silence, as FFmpeg itself does
    except av.error.FFmpegError:
      return   # damaged tail: end of the usable audio

  def close(self) -> None:
    self._container.close()

  def _place(self, frame: av.AudioFrame) -> None:
    samples = _frame_to_mono(frame)
    if frame.sample_rate != self.rate:   # a mid-stream rate change: bring it to the stream rate
      count = int(round(len(samples) * self.rate / frame.sample_rate))
      samples = np.interp(np.linspace(0, len(samples) - 1, count), np.arange(len(samples)),
                          samples).astype(np.float32)
    if frame.pts is not None and frame.time_base is not None:
      if frame.time_base == self._stream.time_base:
        time_s = frame.pts * self._time_base_s
      else:
        time_s = float(frame.pts * frame.time_base)
      index = int(round((time_s - self._origin_s) * self.rate))
      if self._next_index is not None and abs(index - self._next_index) <= _AUDIO_CONTIGUITY_S * self.rate:
        index = self._next_index
    else:
      index = self._next_index if self._next_index is not None else 0
    self._next_index = index + len(samples)
    self._segments.append((index, samples))
    self._decoded_end = max(self._decoded_end, index + len(samples))

  def samples(self, first: int, count: int) -> np.ndarray:
    """float32 [count]: native-rate samples first..first+count of the timeline, zeros where none."""
    while not self._eof and self._decoded_end < first + count:
      frame = next(self._frames, None)
      if frame is None:
        self._eof = True
        break
      self._place(frame)
      if self._seeked:   # first frame after a seek: did it land early enough?
        self._seeked = False
        if self._segments[0][0] > max(first, int(self._info.audio_start_s * self.rate)):
          # It landed after the wanted start: decode from the beginning instead.
          self._container.close()
          self._start(seek_s=0.0)
    out = np.zeros(count, np.float32)
    end = first + count
    for index, samples in self._segments:   # later frames win where frames overlap
      lo, hi = max(first, index), min(end, index + len(samples))
      if hi > lo:
        out[lo - first:hi - first] = samples[lo - index:hi - index]
    # Later requests start at most _HISTORY_S before `first`: frames ending before that are done.
    keep_from = first - int(_HISTORY_S * self.rate)
    self._segments = [(i, x) for i, x in self._segments if i + len(x) > keep_from]
    return out


@functools.lru_cache(maxsize=16)
def _resample_filter(up: int, down: int) -> np.ndarray:
  """The low-pass FIR resample_poly designs by default (Kaiser, beta 5), built once."""
  max_rate = max(up, down)
  return scipy.signal.firwin(2 * 10 * max_rate + 1, 1.0 / max_rate,
                             window=("kaiser", 5.0)).astype(np.float32)


def _resampled(timeline: _AudioTimeline, sample_rate: int, start_s: float, num_samples: int) -> np.ndarray:
  """float32 [num_samples]: sample k is the audio at start_s + k / sample_rate."""
  rate_in = timeline.rate
  if rate_in == sample_rate:
    return timeline.samples(int(round(start_s * rate_in)), num_samples)
  gcd = math.gcd(rate_in, sample_rate)
  up, down = sample_rate // gcd, rate_in // gcd
  margin_out = int(math.ceil(_RESAMPLE_MARGIN_S * sample_rate))
  # Output j of resample_poly sits at input position j * down / up, so starting
  # the input margin_out output samples early puts output margin_out at start_s.
  first_in = int(round((start_s - margin_out / sample_rate) * rate_in))
  count_in = int(math.ceil((num_samples + 2 * margin_out) * down / up)) + 1
  native = timeline.samples(first_in, count_in)
  out = scipy.signal.resample_poly(native, up, down, window=_resample_filter(up, down))
  return out[margin_out:margin_out + num_samples].astype(np.float32, copy=False)


def _audio_16k(timeline: _AudioTimeline, spec: FeatureSpec, start_s: float,
               duration_s: float) -> np.ndarray:
  """float32 [round(duration_s * 16000)]: YAMNet's audio from start_s, sample k at + k / 16000.

  It is the audio at spec.sample_rate upsampled, so it has that audio's band limit,
  and it is cut from a span with real audio either side: a window's 16 kHz audio
  equals the part of any longer span that covers it.
  """
  rate = spec.sample_rate
  margin = int(round(_UPSAMPLE_MARGIN_S * rate))
  wide = _resampled(timeline, rate, start_s - margin / rate,
                    int(round(duration_s * rate)) + 2 * margin)
  gcd = math.gcd(rate, yamnet_features.SAMPLE_RATE)
  up, down = yamnet_features.SAMPLE_RATE // gcd, rate // gcd
  upsampled = scipy.signal.resample_poly(wide, up, down, window=_resample_filter(up, down))
  first = int(round(margin * up / down))
  return upsampled[first:first + int(round(duration_s * yamnet_features.SAMPLE_RATE))].astype(
      np.float32, copy=False)


def iter_audio_16k(path: str, spec: FeatureSpec,
                   spans: Sequence[tuple[float, float]]) -> Iterator[np.ndarray]:
  """YAMNet's audio of each (start_s, duration_s) span of a file, decoded in one pass.

  Starts must not decrease. Each span is float32 [round(duration_s * 16000)] with sample k at
  start_s + k / 16000, equal to the audio_16k of any window it covers (see _audio_16k).
  """
  path = os.fspath(path)
  info = probe(path)
  _audio_stream_check(path, info)
  if not spans:
    return
  timeline = _AudioTimeline(path, info, spans[0][0])
  try:
    for start_s, duration_s in spans:
      yield _audio_16k(timeline, spec, start_s, duration_s)
  finally:
    timeline.close()


def _audio_stream_check(path: str, info: MediaInfo) -> None:
  if not info.has_audio:
    raise MediaError(path, "no_usable_track", "no decodable audio track")


def read_audio(path: str, sample_rate: int, start_s: float = 0.0,
               duration_s: Optional[float] = None) -> np.ndarray:
  """Mono audio of a file on its media timeline.

  Args:
    path: any container PyAV reads (mp4 avi webm mkv mov wav ogg mp3 flac ...).
    sample_rate: output rate in Hz.
    start_s: timeline time of the first output sample.
    duration_s: seconds to return; None reads to the end of the media.

  Returns:
    float32 [round(duration_s * sample_rate)]; sample k is the audio at
    start_s + k / sample_rate. Zeros before the audio track starts or after it ends.
  """
  path = os.fspath(path)
  info = probe(path)
  _audio_stream_check(path, info)
  if duration_s is None:
    duration_s = max(info.duration_s - start_s, 0.0)
  num_samples = int(round(duration_s * sample_rate))
  timeline = _AudioTimeline(path, info, start_s)
  try:
    return _resampled(timeline, sample_rate, start_s, num_samples)
  finally:
    timeline.close()


# ----------------------------------------------------------------------------- video


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


class _FrameReader:
  """Streams a video with OpenCV and answers "which frame shows time t" for non-decreasing t.

  The answer is the frame with the latest presentation timestamp <= t, or the
  first frame for times before it, or the last frame for times after the end.
  Only the two frames around t are held, so long videos cost little memory.
  Every frame is fetched (real files skip frames: a study AVI jumps from 0 to
  120 ms), but only answers are converted and resized.
  """

  def __init__(self, path: str, info: MediaInfo, size: int, channels: int, first_needed_s: float):
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
        raise MediaError(path, "unsupported_codec", "OpenCV decoded no video frame")

  def _open(self, first_needed_s: float) -> tuple[cv2.VideoCapture, Optional[_VideoFrame]]:
    """An open capture and, after a seek, the first frame it landed on."""
    cap = cv2.VideoCapture(self._path, cv2.CAP_FFMPEG)
    if not cap.isOpened():
      raise MediaError(self._path, "unsupported_codec", "OpenCV cannot open the video track")
    seek_s = first_needed_s - _VIDEO_SEEK_BACK_S
    if seek_s <= _SEEK_MIN_S:
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
  info = probe(path)
  if not info.has_video:
    raise MediaError(path, "no_usable_track", "no decodable video track")
  times = np.asarray(times_s, dtype=np.float64).reshape(-1)
  out = np.zeros((len(times), size, size, channels), np.uint8)
  if len(times) == 0:
    return out
  order = np.argsort(times, kind="stable")
  reader = _FrameReader(path, info, size, channels, float(times[order[0]]))
  try:
    for i in order:
      out[i] = reader.frame_at(float(times[i]))
  finally:
    reader.close()
  return out


# ----------------------------------------------------------------------------- windows


def loop_to_length(content: np.ndarray, length: int) -> np.ndarray:
  """float32 [length]: audio content [n] repeated end to end and cut to length.

  How a window shorter than spec.window_s is filled: the padded window equals
  the window of the same sound played in a loop, so padding carries no signal
  a model could learn (zeros or a frozen last frame would).
  """
  if len(content) == 0:
    raise ValueError("cannot loop empty content")
  return np.resize(np.asarray(content, np.float32), length)


class _WindowReader:
  """Cuts a planned sequence of windows (non-decreasing starts) from one file in one pass.

  Windows may overlap (hop < window), so frame times of consecutive windows
  interleave: all requested times are resolved in one sorted pass over the
  video, and each window is handed out as soon as its last frame is known.
  Only frames of windows not yet handed out are held.
  """

  def __init__(self, path: str, info: MediaInfo, spec: FeatureSpec,
               plan: Sequence[tuple[float, float]]):
    """plan: (start_s, content_end_s) per window; media after content_end_s reads as padding."""
    self._info, self._spec, self._plan = info, spec, list(plan)
    first_start_s = self._plan[0][0]
    self._audio = _AudioTimeline(path, info, first_start_s) if info.has_audio else None
    self._video = None
    if info.has_video:
      self._video = _FrameReader(path, info, spec.frame_size, spec.channels,
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
        audio = _resampled(self._audio, spec.sample_rate, start_s, spec.window_samples)
        audio_16k = _audio_16k(self._audio, spec, start_s, spec.window_s)
        if padded:
          audio = loop_to_length(audio[:int(round(content_s * spec.sample_rate))], spec.window_samples)
          audio_16k = loop_to_length(audio_16k[:int(round(content_s * yamnet_features.SAMPLE_RATE))],
                                     len(audio_16k))
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
    MediaError: the file is bad (see probe), or its usable span is shorter
      than spec.min_duration_s (reason "too_short").
  """
  path = os.fspath(path)
  _check_spec(spec)
  hop_s = spec.hop_s if hop_s is None else hop_s
  info = probe(path)
  media_end_s = info.duration_s if end_s is None else min(end_s, info.duration_s)
  span_s = media_end_s - start_s
  if span_s < spec.min_duration_s:
    raise MediaError(path, "too_short",
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
  info = probe(path)
  limit_s = spec.window_s if duration_s is None else min(duration_s, spec.window_s)
  content_end_s = min(start_s + limit_s, info.duration_s)
  content_s = content_end_s - start_s
  if content_s < spec.min_duration_s:
    raise MediaError(path, "too_short",
                     f"window at {start_s:.3f} s holds {max(content_s, 0.0):.3f} s of media "
                     f"(media length {info.duration_s:.3f} s), less than {spec.min_duration_s:g} s")
  if content_s < spec.window_s - FULL_WINDOW_TOLERANCE_S and spec.short_policy == "skip":
    raise MediaError(path, "too_short",
                     f"window at {start_s:.3f} s holds only {content_s:.3f} s of a "
                     f"{spec.window_s:g} s window and short_policy is 'skip'")
  reader = _WindowReader(path, info, spec, [(start_s, content_end_s)])
  try:
    return next(reader.windows())
  finally:
    reader.close()
