"""Real media clips with known events for the media tests, and the checks they share."""
import fractions
import pathlib

import av
import numpy as np
import pytest

from babycry_jax.data import media_probe

DARK, WHITE = 20, 255


def write_clip(path: pathlib.Path, duration_s: float = 4.0, *,
               fps: fractions.Fraction = fractions.Fraction(2997, 100), size=(64, 48),
               flashes=(), video_codec: str = "mpeg4",
               audio_rate: int = 16000, audio_start_s: float = 0.0, bursts=(),
               audio_codec: str = "aac", channels: int = 1,
               video: bool = True, audio: bool = True, base_rgb=(DARK, DARK, DARK)) -> pathlib.Path:
  """Writes a real media file: base_rgb frames, white during `flashes` [(start_s, end_s)];
  a quiet 220 Hz hum, a loud 1 kHz tone during `bursts`; audio starting at audio_start_s."""
  container = av.open(str(path), "w")
  video_stream = audio_stream = None
  if video:
    video_stream = container.add_stream(video_codec, rate=fps)
    video_stream.width, video_stream.height = size
    video_stream.pix_fmt = "yuv420p"
    video_stream.codec_context.time_base = 1 / fps
  if audio:
    audio_stream = container.add_stream(audio_codec, rate=audio_rate)
    audio_stream.layout = "mono" if channels == 1 else "stereo"
  if video:
    for i in range(int(round(duration_s * fps))):
      t = float(i / fps)
      rgb = (WHITE,) * 3 if any(a <= t < b for a, b in flashes) else base_rgb
      frame = av.VideoFrame.from_ndarray(np.full((size[1], size[0], 3), rgb, np.uint8), format="rgb24")
      frame.pts = i
      for packet in video_stream.encode(frame):
        container.mux(packet)
    for packet in video_stream.encode():
      container.mux(packet)
  if audio:
    first = int(round(audio_start_s * audio_rate))
    t = (first + np.arange(int(round(duration_s * audio_rate)) - first)) / audio_rate
    wave = 0.01 * np.sin(2 * np.pi * 220 * t)
    for a, b in bursts:
      wave = np.where((t >= a) & (t < b), 0.8 * np.sin(2 * np.pi * 1000 * t), wave)
    sample_format = audio_stream.codec_context.format
    frame_size = audio_stream.codec_context.frame_size or 1024
    for s in range(0, len(wave), frame_size):
      chunk = wave[s:s + frame_size]
      if len(chunk) < frame_size and audio_stream.codec_context.frame_size:
        chunk = np.pad(chunk, (0, frame_size - len(chunk)))   # fixed-size codecs
      data = np.tile(chunk[None], (channels, 1))
      if not sample_format.is_planar:
        data = data.T.reshape(1, -1)
      if sample_format.name.startswith("s16"):
        data = (data * 32767).astype(np.int16)
      elif sample_format.name.startswith("s32"):
        data = (data * 2147483647).astype(np.int32)
      else:
        data = data.astype(np.float32)
      frame = av.AudioFrame.from_ndarray(data, format=sample_format.name, layout=audio_stream.layout.name)
      frame.sample_rate = audio_rate
      frame.pts = first + s
      frame.time_base = fractions.Fraction(1, audio_rate)
      for packet in audio_stream.encode(frame):
        container.mux(packet)
    for packet in audio_stream.encode():
      container.mux(packet)
  container.close()
  return path


def onsets_s(audio: np.ndarray, sample_rate: int, threshold: float = 0.4) -> np.ndarray:
  loud = np.flatnonzero(np.abs(audio) > threshold)
  return loud[np.r_[True, np.diff(loud) > sample_rate // 20]] / sample_rate if len(loud) else loud


def is_white(frames: np.ndarray) -> np.ndarray:
  return frames.reshape(len(frames), -1).mean(axis=1) > (DARK + WHITE) / 2


def assert_media_error(path, reason, call=media_probe.probe):
  with pytest.raises(media_probe.MediaError) as caught:
    call(path)
  error = caught.value
  assert error.reason == reason, str(error)
  assert error.path == str(path)
  assert str(error).startswith(f"{path}: {reason}: ") and "\n" not in str(error)
  return error
