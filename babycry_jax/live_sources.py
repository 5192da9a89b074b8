"""Where live audio comes from: raw PCM on stdin, a network stream or a file (PyAV), a sound card.

A source opens into an iterator of (samples float32 [n] mono in [-1, 1], sample
rate) chunks at its native rate, which ends at the end of the input and raises
SourceError when the audio is lost. Samples are scaled and mixed to mono by
data.media_audio.samples_to_mono, the function that does it for a decoded file,
so a recording piped in as PCM gives the samples `detect` reads from it.
SOURCE on the command line is `-` (stdin), `device` or `device:NAME_OR_INDEX`
(live_device), a URL (rtsp, http, udp... anything FFmpeg reads) or a file path.
"""
from __future__ import annotations

import errno
import os
import sys
import urllib.parse
from typing import BinaryIO, Iterator, Optional

import av
import numpy as np

from babycry_jax.data import media_audio

Chunk = tuple[np.ndarray, int]

PCM_FORMATS = {"s16le": np.dtype("<i2"), "s32le": np.dtype("<i4"), "f32le": np.dtype("<f4")}
STREAM_SCHEMES = ("rtsp", "rtsps", "rtmp", "rtmps", "http", "https", "udp", "rtp", "srt", "tcp",
                  "mms", "file")
# At most this many seconds of PCM are read from stdin at a time. A read returns what the pipe
# holds, so a live pipe's audio is never held back, and input fed fast comes in large pieces.
_PCM_BLOCK_S = 1.0


class SourceError(Exception):
  """The source cannot be opened, or its audio was lost; the message is one line."""


def redact(url: str) -> str:
  """The URL without its password, for logs and alert payloads."""
  parts = urllib.parse.urlsplit(url)
  if parts.password is None:
    return url
  netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
  return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


class AudioSource:
  """A live input. `reconnects`: opened again when its audio ends or is lost."""

  description = "source"
  reconnects = False

  def open(self) -> Iterator[Chunk]:
    """Connects (SourceError if it cannot) and returns the chunks' iterator."""
    raise NotImplementedError


class StdinPcm(AudioSource):
  """Raw interleaved PCM from a pipe (`arecord -t raw`, `ffmpeg ... -f s16le -`); ends at EOF."""

  def __init__(self, rate: int = 16000, channels: int = 1, sample_format: str = "s16le",
               stream: Optional[BinaryIO] = None):
    if sample_format not in PCM_FORMATS:
      raise ValueError(f"PCM format must be one of {', '.join(PCM_FORMATS)}, got {sample_format!r}")
    if rate <= 0 or channels <= 0:
      raise ValueError(f"PCM rate and channels must be positive, got {rate} Hz, {channels} channels")
    self.rate, self.channels, self._dtype = rate, channels, PCM_FORMATS[sample_format]
    self._stream = stream
    self.description = f"stdin ({sample_format}, {rate} Hz, {channels} channel(s))"

  def open(self) -> Iterator[Chunk]:
    stream = self._stream if self._stream is not None else sys.stdin.buffer
    return self._chunks(stream.fileno())

  def _chunks(self, fd: int) -> Iterator[Chunk]:
    frame_bytes = self._dtype.itemsize * self.channels
    block = max(frame_bytes, int(self.rate * _PCM_BLOCK_S) * frame_bytes)
    pending = b""
    while True:
      data = os.read(fd, block)   # returns what the pipe has: no waiting for a full block
      if not data:
        return   # a partial last frame is dropped, as a decoder would
      pending += data
      usable = len(pending) - len(pending) % frame_bytes
      if usable:
        samples = np.frombuffer(pending[:usable], self._dtype).reshape(-1, self.channels).T
        pending = pending[usable:]
        yield media_audio.samples_to_mono(samples), self.rate


class PyavStream(AudioSource):
  """A network stream or a file through PyAV (FFmpeg): its first audio track, decoded as it comes.

  A URL reconnects when it ends or fails (a camera restarting, Wi-Fi dropping);
  a file ends the listening at its end. A read that waits longer than read_timeout_s
  counts as a lost stream.
  """

  def __init__(self, url: str, open_timeout_s: float = 10.0, read_timeout_s: float = 10.0,
               rtsp_transport: str = "tcp"):
    self.url = url
    self.is_url = "://" in url
    self.reconnects = self.is_url
    self.description = redact(url)
    self._timeout = (open_timeout_s, read_timeout_s)
    self._options = {"rtsp_transport": rtsp_transport} if url.startswith(("rtsp:", "rtsps:")) else {}

  def open(self) -> Iterator[Chunk]:
    try:
      container = av.open(self.url, options=self._options, timeout=self._timeout)
    except (av.error.FFmpegError, OSError, ValueError) as e:
      raise SourceError(f"cannot open {self.description}: {self._why(e)}") from None
    stream = next((s for s in container.streams.audio if s.codec_context is not None), None)
    if stream is None:
      container.close()
      raise SourceError(f"{self.description} has no audio track")
    return self._chunks(container, stream)

  def _chunks(self, container, stream) -> Iterator[Chunk]:
    rate = None
    try:
      for packet in container.demux(stream):
        try:
          frames = packet.decode()
        except av.error.InvalidDataError:
          continue   # a damaged packet: the stream goes on
        for frame in frames:
          if rate is not None and frame.sample_rate != rate:
            raise SourceError(f"{self.description} changed its sample rate from {rate} to "
                              f"{frame.sample_rate} Hz")
          rate = frame.sample_rate
          yield media_audio.frame_to_mono(frame), rate
    except (av.error.FFmpegError, OSError) as e:
      if self.is_url and rate is not None and getattr(e, "errno", None) == errno.EIO:
        return   # how FFmpeg reports a live HTTP stream whose server closed it: its end
      raise SourceError(f"{self.description}: audio lost: {self._why(e)}") from None
    finally:
      container.close()

  def _why(self, error: Exception) -> str:
    """The error in one line, without the password FFmpeg's message repeats with the URL."""
    return _one_line(error).replace(self.url, self.description)


def _one_line(error: Exception) -> str:
  return " ".join(str(error).split()) or type(error).__name__


def check_url(url: str) -> None:
  """ValueError for a URL whose scheme FFmpeg would not stream from, or with no host."""
  parts = urllib.parse.urlsplit(url)
  if parts.scheme not in STREAM_SCHEMES:
    raise ValueError(f"source {redact(url)!r}: unsupported URL scheme {parts.scheme!r} "
                     f"(use one of {', '.join(STREAM_SCHEMES)})")
  if parts.scheme != "file" and not parts.hostname:
    raise ValueError(f"source {redact(url)!r} has no host")
