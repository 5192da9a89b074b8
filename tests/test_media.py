"""Media decoding: real study clips, generated clips with known events, bad inputs."""
import dataclasses
import fractions
import pathlib
import pickle

import av
import numpy as np
import pytest
import scipy.io.wavfile

from babycry_jax import schema
from preprocess import features, media

PAPER = schema.preset("paper")
STUDY_AVIS = ["baby/1016.avi", "baby/1022.avi", "other/1654.avi", "other/3077.avi",
              "other/3352.avi", "other/3376.avi"]
STUDY_WAVS = ["babywav/1001.wav", "babywav/1022.wav", "otherwav/1651.wav",
              "otherwav/1653.wav", "otherwav/1655.wav"]
DARK, WHITE = 20, 255


# ----------------------------------------------------------------------------- clip writer


def write_clip(path: pathlib.Path, duration_s: float = 4.0, *,
               fps: fractions.Fraction = fractions.Fraction(2997, 100), size=(64, 48),
               flashes=(), video_codec: str = "mpeg4",
               audio_rate: int = 16000, audio_start_s: float = 0.0, bursts=(),
               audio_codec: str = "aac", channels: int = 1,
               video: bool = True, audio: bool = True) -> pathlib.Path:
  """Writes a real media file: dark frames, white during `flashes` [(start_s, end_s)];
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
      level = WHITE if any(a <= t < b for a, b in flashes) else DARK
      frame = av.VideoFrame.from_ndarray(np.full((size[1], size[0], 3), level, np.uint8), format="rgb24")
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


def _onsets_s(audio: np.ndarray, sample_rate: int, threshold: float = 0.4) -> np.ndarray:
  loud = np.flatnonzero(np.abs(audio) > threshold)
  return loud[np.r_[True, np.diff(loud) > sample_rate // 20]] / sample_rate if len(loud) else loud


def _is_white(frames: np.ndarray) -> np.ndarray:
  return frames.reshape(len(frames), -1).mean(axis=1) > (DARK + WHITE) / 2


# ----------------------------------------------------------------------------- real media


@pytest.mark.parametrize("name", STUDY_AVIS)
def test_study_avi_decodes_to_one_window_with_both_tracks(shared_data, name):
  path = shared_data / "seed_samples" / "3DCNN" / name
  info = media.probe(path)
  assert info.has_audio and info.has_video
  assert 4.0 <= info.duration_s < 4.05
  assert info.fps == pytest.approx(25.0) or info.fps == pytest.approx(14.92, abs=0.01)
  assert info.sample_rate in (44100, 48000) and info.channels in (1, 2)
  windows = list(media.iter_windows(path, PAPER))
  assert len(windows) == 1
  window = windows[0]
  assert not window.padded and window.start_s == 0.0 and window.duration_s == pytest.approx(4.0)
  assert window.audio.shape == (32000,) and window.audio.dtype == np.float32
  assert 0.005 < np.sqrt(np.mean(window.audio ** 2)) < 1.0
  assert window.frames.shape == (18, 64, 64, 1) and window.frames.dtype == np.uint8
  assert window.frames.std() > 5                         # real pictures, not a blank fill
  assert np.abs(np.diff(window.frames.astype(np.int16), axis=0)).mean() > 0.5   # they move


@pytest.mark.parametrize("name", STUDY_WAVS)
def test_study_wav_decodes_exactly(shared_data, name):
  path = shared_data / "seed_samples" / "SVM" / name
  info = media.probe(path)
  assert info.has_audio and not info.has_video and info.sample_rate == 8000
  rate, pcm = scipy.io.wavfile.read(path)
  audio = media.read_audio(path, 8000)
  assert rate == 8000 and audio.shape == pcm.shape
  # Same rate: no resampling, the PCM values themselves.
  np.testing.assert_array_equal(audio, pcm.astype(np.float32) / 32768)
  window = next(media.iter_windows(path, PAPER))
  assert window.frames is None and window.audio.shape == (32000,)


def test_avi_audio_at_8khz_matches_the_study_wav(shared_data):
  """1022.wav is the study's 8 kHz audio of 1022.avi (48 kHz mono MP3 inside).

  Found: best lag 0 samples, correlation 0.9999, same loudness: our decode,
  downmix and resampling reproduce the study's audio input.
  """
  from_avi = media.read_audio(shared_data / "seed_samples/3DCNN/baby/1022.avi", 8000)
  rate, pcm = scipy.io.wavfile.read(shared_data / "seed_samples/SVM/babywav/1022.wav")
  wav = pcm.astype(np.float32) / 32768
  n = min(len(from_avi), len(wav))
  assert abs(len(from_avi) - len(wav)) <= 8
  a, b = from_avi[:n], wav[:n]
  lags = np.arange(-80, 81)
  corr = [np.corrcoef(a[max(lag, 0):n + min(lag, 0)], b[max(-lag, 0):n - max(lag, 0)])[0, 1] for lag in lags]
  best = int(lags[int(np.argmax(corr))])
  assert best == 0
  assert max(corr) > 0.999
  assert np.sqrt(np.mean(a ** 2)) == pytest.approx(np.sqrt(np.mean(b ** 2)), rel=0.02)


# ----------------------------------------------------------------------------- bad inputs


def _assert_media_error(path, reason, call=media.probe):
  with pytest.raises(media.MediaError) as caught:
    call(path)
  error = caught.value
  assert error.reason == reason, str(error)
  assert error.path == str(path)
  assert str(error).startswith(f"{path}: {reason}: ") and "\n" not in str(error)
  return error


def test_missing_path_and_folder_are_unreadable(tmp_path):
  _assert_media_error(tmp_path / "nope.mp4", "unreadable_path")
  _assert_media_error(tmp_path, "unreadable_path")


def test_empty_file(tmp_path):
  path = tmp_path / "empty.mp4"
  path.write_bytes(b"")
  _assert_media_error(path, "empty_file")


def test_text_renamed_mp4_is_not_media(tmp_path):
  path = tmp_path / "notes.mp4"
  path.write_text("these are meeting notes, not a video\n" * 40)
  _assert_media_error(path, "not_media")


def test_truncated_mp4_and_avi(tmp_path, shared_data):
  whole = write_clip(tmp_path / "whole.mp4", audio_start_s=0.0)
  cut = tmp_path / "cut.mp4"
  cut.write_bytes(whole.read_bytes()[:whole.stat().st_size // 2])
  _assert_media_error(cut, "truncated")
  study = (shared_data / "seed_samples/3DCNN/baby/1022.avi").read_bytes()
  cut_avi = tmp_path / "cut.avi"
  cut_avi.write_bytes(study[:len(study) // 2])
  _assert_media_error(cut_avi, "truncated")


def test_subtitles_only_file_has_no_usable_track(tmp_path):
  path = tmp_path / "subs.srt"
  path.write_text("1\n00:00:00,000 --> 00:00:01,000\nhello\n\n2\n00:00:02,000 --> 00:00:03,000\nbye\n")
  _assert_media_error(path, "no_usable_track")


def test_unknown_audio_codec_is_unsupported(tmp_path):
  # A WAV whose format tag names no codec FFmpeg knows.
  import struct
  data = np.zeros(8000, "<i2").tobytes()
  fmt = struct.pack("<HHIIHH", 0x1234, 1, 8000, 16000, 2, 16)
  body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
  path = tmp_path / "odd.wav"
  path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
  _assert_media_error(path, "unsupported_codec")


def test_media_error_survives_pickling():
  error = media.MediaError("/a/b.mp4", "truncated", "cut\nshort")
  again = pickle.loads(pickle.dumps(error))
  assert (again.path, again.reason, str(again)) == ("/a/b.mp4", "truncated", "/a/b.mp4: truncated: cut short")
  with pytest.raises(ValueError):
    media.MediaError("/a", "bad_reason", "x")
