"""A rendered clip into a media file: MP4 (H.264 + AAC) or AVI (MPEG-4 part 2 + MP3).

Encoders run single-threaded with fixed settings, so the same clip gives the
same bytes on one machine.
"""
from __future__ import annotations

import fractions
import functools

import av
import numpy as np

from preprocess.clip_format import FRAME_HEIGHT, FRAME_WIDTH, SAMPLE_RATE_HZ, RenderedClip

AAC_BIT_RATE = 48_000
MP3_BIT_RATE = 48_000


@functools.lru_cache(maxsize=None)
def _mp3_priming_samples() -> int:
  """Silence the MP3 encoder puts before the signal (AVI has no field to skip it)."""
  codec = av.CodecContext.create("mp3", "w")
  codec.sample_rate, codec.layout, codec.format = SAMPLE_RATE_HZ, "mono", "fltp"
  codec.bit_rate = MP3_BIT_RATE
  codec.open()
  silence = np.zeros((1, codec.frame_size), np.float32)
  for i in range(16):
    frame = av.AudioFrame.from_ndarray(silence, format="fltp", layout="mono")
    frame.sample_rate, frame.pts = SAMPLE_RATE_HZ, i * codec.frame_size
    for packet in codec.encode(frame):
      return max(-int(packet.pts), 0)
  raise RuntimeError("the MP3 encoder returned no packet for 16 frames of silence")


def encode_clip(path: str, clip: RenderedClip) -> None:
  """Writes `clip` to path: .mp4 (H.264 + AAC) or .avi (MPEG-4 part 2 + MP3)."""
  is_avi = path.endswith(".avi")
  samples = clip.audio
  options = None
  if is_avi:
    # AVI players count frames instead of reading timestamps: keep the video's
    # timestamps as they are, and start the audio early by the MP3 priming so
    # that decoded sound lines up with the picture.
    options = {"avoid_negative_ts": "disabled"}
    samples = samples[_mp3_priming_samples():]
  with av.open(path, mode="w", format="avi" if is_avi else "mp4", options=options) as container:
    # Fixed settings and one thread each, so the bytes depend only on the input.
    if is_avi:
      video = container.add_stream("mpeg4", rate=clip.frame_rate)
      video.bit_rate = 300_000
    else:
      video = container.add_stream("libx264", rate=clip.frame_rate,
                                   options={"preset": "ultrafast", "crf": "23", "threads": "1"})
    video.width, video.height, video.pix_fmt = FRAME_WIDTH, FRAME_HEIGHT, "yuv420p"
    video.thread_count = 1
    audio = container.add_stream(
        "mp3" if is_avi else "aac", rate=SAMPLE_RATE_HZ, layout="mono",
        options={"compression_level": "9"} if is_avi else {"aac_coder": "fast"})
    audio.bit_rate = MP3_BIT_RATE if is_avi else AAC_BIT_RATE
    audio.thread_count = 1
    container.metadata.clear()
    chunk = audio.codec_context.frame_size or 1024
    # Encoders want whole audio frames: pad the tail with silence.
    samples = np.pad(samples, (0, -samples.size % chunk)).astype(np.float32)
    audio_starts = iter(range(0, samples.size, chunk))
    next_audio = next(audio_starts, None)
    frame_s = 1.0 / float(clip.frame_rate)
    for i, frame_bgr in enumerate(clip.frames):
      # Interleave by time (AVI demuxers count frames and lose sync otherwise).
      while next_audio is not None and next_audio / SAMPLE_RATE_HZ < (i + 1) * frame_s:
        piece = av.AudioFrame.from_ndarray(samples[None, next_audio:next_audio + chunk],
                                           format="fltp", layout="mono")
        piece.sample_rate = SAMPLE_RATE_HZ
        piece.pts = next_audio
        piece.time_base = fractions.Fraction(1, SAMPLE_RATE_HZ)
        container.mux(audio.encode(piece))
        next_audio = next(audio_starts, None)
      frame = av.VideoFrame.from_ndarray(frame_bgr, format="bgr24")
      frame.pts = i
      frame.time_base = fractions.Fraction(1) / clip.frame_rate
      container.mux(video.encode(frame))
    container.mux(video.encode(None))
    container.mux(audio.encode(None))

