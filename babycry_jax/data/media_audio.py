"""A file's audio on the media timeline (see media_probe), at any sample rate.

Audio is decoded with PyAV (FFmpeg inside the wheel, any container), placed on
the timeline by each frame's timestamp at its native rate, downmixed to mono
and resampled with a polyphase filter (scipy.signal.resample_poly). It is
decoded incrementally, so memory stays bounded for long files. YAMNet's 16 kHz
audio is made from the spec-rate audio, so it has that audio's band limit.
"""
from __future__ import annotations

import functools
import math
import os
from typing import Iterator, Optional, Sequence

import av
import numpy as np
import scipy.signal

from babycry_jax.data import media_probe, yamnet_features
from babycry_jax.data.schema import FeatureSpec

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
# The audio a span's spec-rate or 16 kHz audio reads past its end (and before its start): a live
# stream can cut a span once this much more has arrived (10 ms over, for the filters' rounding).
CONTEXT_S = _HISTORY_S + 0.01


def _origin_s(info: media_probe.MediaInfo, stream: av.stream.Stream, stream_offset_s: float) -> float:
  """Absolute time of the timeline's 0, from a stream whose timeline offset is known."""
  start = media_probe.stream_start_s(stream)
  return (start if start is not None else 0.0) - stream_offset_s


def samples_to_mono(data: np.ndarray) -> np.ndarray:
  """float32 [samples]: planar samples [channels, samples] of any PCM type, scaled to [-1, 1] and
  averaged over the channels (the same for a decoded file and for raw PCM of a live stream)."""
  if data.dtype == np.uint8:
    data = (data.astype(np.float32) - 128.0) / 128.0
  elif np.issubdtype(data.dtype, np.integer):
    data = data.astype(np.float32) / float(np.iinfo(data.dtype).max + 1)
  data = data.astype(np.float32, copy=False)
  if data.shape[0] == 1:
    return data[0]
  return np.add.reduce(data, axis=0) * np.float32(1.0 / data.shape[0])


def frame_to_mono(frame: av.AudioFrame) -> np.ndarray:
  """float32 [samples]: the mean of all channels of a decoded frame, scaled to [-1, 1]."""
  data = frame.to_ndarray()
  if not frame.format.is_planar:
    data = data.reshape(-1, frame.layout.nb_channels).T
  return samples_to_mono(data)


class AudioTimeline:
  """Decodes one file's audio in order, serving mono native-rate samples by timeline index.

  Requests must not move backwards (their first index never decreases), which
  lets it drop decoded frames behind them: memory stays at about one request,
  also across long gaps in the track (those read as zeros without being stored).
  """

  def __init__(self, path: str, info: media_probe.MediaInfo, first_needed_s: float):
    self._path = path
    self._info = info
    self._start(seek_s=first_needed_s - _AUDIO_PREROLL_S)

  def _start(self, seek_s: float) -> None:
    self._container = media_probe.open_input(self._path)
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
    if seek_s > media_probe.SEEK_MIN_S:
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
    samples = frame_to_mono(frame)
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


def resampled(timeline: AudioTimeline, sample_rate: int, start_s: float, num_samples: int) -> np.ndarray:
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


def audio_16k(timeline: AudioTimeline, spec: FeatureSpec, start_s: float,
              duration_s: float, content_s: float | None = None) -> np.ndarray:
  """float32 [round(duration_s * 16000)]: YAMNet's audio from start_s, sample k at + k / 16000.

  It is the audio at spec.sample_rate upsampled, so it has that audio's band limit,
  and it is cut from a span with real audio either side: a window's 16 kHz audio
  equals the part of any longer span that covers it. With content_s, the audio after
  start_s + content_s is the content looped (a padded window), before upsampling, so the
  result equals the audio of the same sound played in a loop.
  """
  rate = spec.sample_rate
  margin = int(round(_UPSAMPLE_MARGIN_S * rate))
  wide = resampled(timeline, rate, start_s - margin / rate,
                   int(round(duration_s * rate)) + 2 * margin)
  if content_s is not None:
    content = wide[margin:margin + max(1, int(round(content_s * rate)))]
    wide[margin:] = np.resize(content, len(wide) - margin)
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
  start_s + k / 16000, equal to the audio_16k of any window it covers (see audio_16k).
  """
  path = os.fspath(path)
  info = media_probe.probe(path)
  _audio_stream_check(path, info)
  if not spans:
    return
  timeline = AudioTimeline(path, info, spans[0][0])
  try:
    for start_s, duration_s in spans:
      yield audio_16k(timeline, spec, start_s, duration_s)
  finally:
    timeline.close()


def _audio_stream_check(path: str, info: media_probe.MediaInfo) -> None:
  if not info.has_audio:
    raise media_probe.MediaError(path, "no_usable_track", "no decodable audio track")


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
  info = media_probe.probe(path)
  _audio_stream_check(path, info)
  if duration_s is None:
    duration_s = max(info.duration_s - start_s, 0.0)
  num_samples = int(round(duration_s * sample_rate))
  timeline = AudioTimeline(path, info, start_s)
  try:
    return resampled(timeline, sample_rate, start_s, num_samples)
  finally:
    timeline.close()
