"""Media decoding: real study clips, generated clips with known events, bad inputs."""
import dataclasses
import fractions
import pathlib
import pickle

import av
import numpy as np
import pytest
import scipy.io.wavfile

from babycry_jax.data import features, media_audio, media_probe, media_video, media_windows, schema

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


def _onsets_s(audio: np.ndarray, sample_rate: int, threshold: float = 0.4) -> np.ndarray:
  loud = np.flatnonzero(np.abs(audio) > threshold)
  return loud[np.r_[True, np.diff(loud) > sample_rate // 20]] / sample_rate if len(loud) else loud


def _is_white(frames: np.ndarray) -> np.ndarray:
  return frames.reshape(len(frames), -1).mean(axis=1) > (DARK + WHITE) / 2


# ----------------------------------------------------------------------------- real media


@pytest.mark.parametrize("name", STUDY_AVIS)
def test_study_avi_decodes_to_one_window_with_both_tracks(shared_data, name):
  path = shared_data / "seed_samples" / "3DCNN" / name
  info = media_probe.probe(path)
  assert info.has_audio and info.has_video
  assert 4.0 <= info.duration_s < 4.05
  assert info.fps == pytest.approx(25.0) or info.fps == pytest.approx(14.92, abs=0.01)
  assert info.sample_rate in (44100, 48000) and info.channels in (1, 2)
  windows = list(media_windows.iter_windows(path, PAPER))
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
  info = media_probe.probe(path)
  assert info.has_audio and not info.has_video and info.sample_rate == 8000
  rate, pcm = scipy.io.wavfile.read(path)
  audio = media_audio.read_audio(path, 8000)
  assert rate == 8000 and audio.shape == pcm.shape
  # Same rate: no resampling, the PCM values themselves.
  np.testing.assert_array_equal(audio, pcm.astype(np.float32) / 32768)
  window = next(media_windows.iter_windows(path, PAPER))
  assert window.frames is None and window.audio.shape == (32000,)


def test_avi_audio_at_8khz_matches_the_study_wav(shared_data):
  """1022.wav is the study's 8 kHz audio of 1022.avi (48 kHz mono MP3 inside).

  Found: best lag 0 samples, correlation 0.9999, same loudness: our decode,
  downmix and resampling reproduce the study's audio input.
  """
  from_avi = media_audio.read_audio(shared_data / "seed_samples/3DCNN/baby/1022.avi", 8000)
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


def _assert_media_error(path, reason, call=media_probe.probe):
  with pytest.raises(media_probe.MediaError) as caught:
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
  error = media_probe.MediaError("/a/b.mp4", "truncated", "cut\nshort")
  again = pickle.loads(pickle.dumps(error))
  assert (again.path, again.reason, str(again)) == ("/a/b.mp4", "truncated", "/a/b.mp4: truncated: cut short")
  with pytest.raises(ValueError):
    media_probe.MediaError("/a", "bad_reason", "x")


# ----------------------------------------------------------------------------- timing


FLASHES = ((1.5, 1.6), (2.7, 2.8))
TIMING_CLIPS = {
    # (container suffix, video codec, audio codec, audio rate, frame rate)
    "mp4_h264_aac": ("mp4", "libx264", "aac", 16000, fractions.Fraction(2997, 100)),
    "webm_vp9_opus": ("webm", "libvpx-vp9", "libopus", 48000, fractions.Fraction(2997, 100)),
    "mkv_mpeg4_flac": ("mkv", "mpeg4", "flac", 44100, fractions.Fraction(373, 25)),
}


@pytest.fixture(scope="module", params=sorted(TIMING_CLIPS))
def timing_clip(request, tmp_path_factory):
  suffix, video_codec, audio_codec, rate, fps = TIMING_CLIPS[request.param]
  path = tmp_path_factory.mktemp("timing") / f"events.{suffix}"
  write_clip(path, fps=fps, flashes=FLASHES, bursts=FLASHES, video_codec=video_codec,
             audio_codec=audio_codec, audio_rate=rate, audio_start_s=0.5)
  return path, float(fps)


def test_late_audio_and_bursts_land_at_their_times(timing_clip):
  path, _ = timing_clip
  info = media_probe.probe(path)
  assert info.has_audio and info.has_video and info.video_start_s == pytest.approx(0.0, abs=1e-3)
  audio = media_audio.read_audio(path, 8000)
  assert len(audio) == int(round(info.duration_s * 8000))
  # Nothing before the audio track starts at 0.5 s (leading zeros, not a shift).
  first_sound_s = np.flatnonzero(np.abs(audio) > 1e-3)[0] / 8000
  assert first_sound_s == pytest.approx(0.5, abs=0.003)
  np.testing.assert_allclose(_onsets_s(audio, 8000), [a for a, _ in FLASHES], atol=0.003)
  # A read that starts mid-file uses the same timeline.
  part = media_audio.read_audio(path, 8000, start_s=2.0, duration_s=1.5)
  assert part.shape == (12000,)
  np.testing.assert_allclose(_onsets_s(part, 8000), [FLASHES[1][0] - 2.0], atol=0.003)
  np.testing.assert_allclose(part, audio[16000:28000], atol=1e-4)


def test_flashes_show_from_their_first_frame_timestamp(timing_clip):
  path, fps = timing_clip
  times = np.arange(0.0, 3.9, 0.005)
  frames = media_video.read_frames(path, times, 16, 1)
  assert frames.shape == (len(times), 16, 16, 1) and frames.dtype == np.uint8
  white = _is_white(frames)
  # The frame on screen at t is frame floor(t * fps); it is white if its own time is in a flash.
  frame_time = np.floor(times * fps + 1e-6) / fps
  expected = np.array([any(a <= ft < b for a, b in FLASHES) for ft in frame_time])
  assert white.sum() > 10
  assert (white != expected).sum() <= 2   # only at a frame edge within float rounding
  onsets = times[1:][np.diff(white.astype(int)) == 1]
  np.testing.assert_allclose(onsets, [a for a, _ in FLASHES], atol=1 / fps)
  # Unordered requests give the same frames as ordered ones.
  shuffled = np.random.default_rng(0).permutation(len(times))[:40]
  np.testing.assert_array_equal(media_video.read_frames(path, times[shuffled], 16, 1), frames[shuffled])


def test_windows_carry_both_events_at_the_right_offsets(timing_clip):
  path, fps = timing_clip
  spec = dataclasses.replace(PAPER, window_s=2.0, hop_s=1.0, num_frames=20, frame_size=16)
  windows = list(media_windows.iter_windows(path, spec))
  # A codec that pads its last audio frame may leave a short tail: one padded window more.
  assert [(w.start_s, w.padded) for w in windows[:3]] == [(0.0, False), (1.0, False), (2.0, False)]
  assert len(windows) == 3 or (len(windows) == 4 and windows[3].padded)
  for window in windows[:3]:
    times = media_windows.frame_times(window.start_s, spec)
    frame_time = np.floor(times * fps + 1e-6) / fps
    expected = np.array([any(a <= ft < b for a, b in FLASHES) for ft in frame_time])
    np.testing.assert_array_equal(_is_white(window.frames), expected)
    bursts = [a - window.start_s for a, _ in FLASHES if 0 <= a - window.start_s < spec.window_s - 0.05]
    np.testing.assert_allclose(_onsets_s(window.audio, 8000), bursts, atol=0.003)
  # window_at gives the very same window.
  again = media_windows.window_at(path, spec, 1.0)
  np.testing.assert_array_equal(again.frames, windows[1].frames)
  np.testing.assert_allclose(again.audio, windows[1].audio, atol=1e-5)


# ----------------------------------------------------------------------------- track kinds


@pytest.mark.parametrize("suffix,codec,rate", [
    ("wav", "pcm_s16le", 16000), ("ogg", "libopus", 48000), ("flac", "flac", 22050),
    ("mp3", "libmp3lame", 44100)])
def test_audio_only_files_have_no_frames(tmp_path, suffix, codec, rate):
  path = write_clip(tmp_path / f"tone.{suffix}", 5.0, video=False, audio_codec=codec,
                    audio_rate=rate, bursts=((1.0, 1.2),))
  info = media_probe.probe(path)
  assert info.has_audio and not info.has_video and info.fps is None
  assert info.duration_s == pytest.approx(5.0, abs=0.1)
  windows = list(media_windows.iter_windows(path, PAPER))
  assert len(windows) == 2 and windows[1].padded   # 4 s + a padded 1 s tail
  assert all(w.frames is None for w in windows)
  feats = features.window_features(windows[0], PAPER)
  assert feats["has_audio"] and not feats["has_video"] and not feats["video/frames"].any()
  # MP3 carries an encoder delay of about 25 ms that its container cannot state.
  onsets = _onsets_s(windows[0].audio, 8000)
  assert len(onsets) == 1 and onsets[0] == pytest.approx(1.0, abs=0.03 if suffix == "mp3" else 0.003)
  with pytest.raises(media_probe.MediaError, match="no_usable_track"):
    media_video.read_frames(path, [1.0], 16, 1)


def test_silent_video_has_no_audio(tmp_path):
  path = write_clip(tmp_path / "silent.mp4", audio=False, flashes=((1.0, 2.0),))
  info = media_probe.probe(path)
  assert info.has_video and not info.has_audio and info.sample_rate is None
  window = media_windows.window_at(path, PAPER, 0.0)
  assert window.audio is None and window.frames.shape == (18, 64, 64, 1)
  feats = features.window_features(window, PAPER)
  assert not feats["has_audio"] and feats["has_video"] and not feats["audio/log_mel"].any()
  with pytest.raises(media_probe.MediaError, match="no_usable_track"):
    media_audio.read_audio(path, 8000)


# ----------------------------------------------------------------------------- windows


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory):
  """21 s of small video at 10 fps, flashes at 12.0-12.5 s, bursts at 5 s and 12 s."""
  path = tmp_path_factory.mktemp("long") / "long.mkv"
  return write_clip(path, 21.0, fps=fractions.Fraction(10), size=(32, 32), flashes=((12.0, 12.5),),
                    bursts=((5.0, 5.1), (12.0, 12.1)), audio_codec="flac", audio_rate=16000)


def test_hop_gives_overlapping_windows_and_a_padded_tail(long_clip):
  spec = dataclasses.replace(PAPER, frame_size=16)
  starts = [(w.start_s, w.padded) for w in media_windows.iter_windows(long_clip, spec, hop_s=2.0)]
  assert starts == [(float(s), False) for s in range(0, 18, 2)] + [(18.0, True)]
  windows = list(media_windows.iter_windows(long_clip, spec))   # default hop = window
  assert [w.start_s for w in windows] == [0.0, 4.0, 8.0, 12.0, 16.0, 20.0]
  tail = windows[-1]
  assert tail.padded and tail.duration_s == pytest.approx(1.0, abs=0.05)
  content = int(round(tail.duration_s * 8000))
  assert np.abs(tail.audio[:7900]).max() > 0.005
  np.testing.assert_array_equal(tail.audio, np.resize(tail.audio[:content], 32000))   # looped
  times = media_windows.frame_times(0.0, spec)
  np.testing.assert_array_equal(tail.frames[times >= tail.duration_s],      # frames loop too
                                tail.frames[[np.searchsorted(times, t % tail.duration_s)
                                             for t in times[times >= tail.duration_s]]])
  # Streamed windows equal independent reads of the same spans.
  whole = media_audio.read_audio(long_clip, 8000)
  for window in windows[:-1]:
    first = int(window.start_s * 8000)
    np.testing.assert_allclose(window.audio, whole[first:first + 32000], atol=1e-4)
  assert _onsets_s(windows[1].audio, 8000) == pytest.approx([1.0], abs=0.003)
  assert _onsets_s(windows[3].audio, 8000) == pytest.approx([0.0], abs=0.003)
  assert _is_white(windows[3].frames)[:2].all() and not _is_white(windows[3].frames)[3:].any()


def test_window_at_deep_in_the_file_seeks_to_the_same_result(long_clip):
  spec = dataclasses.replace(PAPER, frame_size=16)
  streamed = list(media_windows.iter_windows(long_clip, spec, hop_s=1.0))[11]
  assert streamed.start_s == 11.0
  sought = media_windows.window_at(long_clip, spec, 11.0)   # far enough in to seek
  np.testing.assert_array_equal(sought.frames, streamed.frames)
  np.testing.assert_allclose(sought.audio, streamed.audio, atol=1e-4)
  assert _onsets_s(sought.audio, 8000) == pytest.approx([1.0], abs=0.003)
  frames = media_video.read_frames(long_clip, [11.95, 12.05, 12.45, 12.55], 16, 1)
  assert _is_white(frames).tolist() == [False, True, True, False]


def test_segment_of_a_long_file_and_a_short_window_at(long_clip):
  spec = dataclasses.replace(PAPER, frame_size=16)
  windows = list(media_windows.iter_windows(long_clip, spec, start_s=10.0, end_s=20.0))
  assert [(w.start_s, w.padded) for w in windows] == [(10.0, False), (14.0, False), (18.0, True)]
  assert windows[-1].duration_s == pytest.approx(2.0)
  np.testing.assert_array_equal(windows[-1].audio[16000:], windows[-1].audio[:16000])
  short = media_windows.window_at(long_clip, spec, 11.0, 2.0)
  assert short.padded and short.duration_s == pytest.approx(2.0)
  # The segment's 2 s play twice; media after its end is never read.
  assert _onsets_s(short.audio, 8000) == pytest.approx([1.0, 3.0], abs=0.003)
  with pytest.raises(media_probe.MediaError, match="too_short"):
    media_windows.window_at(long_clip, spec, 20.5)
  with pytest.raises(media_probe.MediaError, match="too_short"):
    media_windows.window_at(long_clip, dataclasses.replace(spec, short_policy="skip"), 11.0, 2.0)


@pytest.fixture(scope="module")
def short_clip(tmp_path_factory):
  path = tmp_path_factory.mktemp("short") / "short.mp4"
  return write_clip(path, 2.0, fps=fractions.Fraction(25), flashes=((1.9, 2.0),), bursts=((0.5, 0.6),))


def test_short_input_is_padded_or_skipped(short_clip):
  (padded,) = list(media_windows.iter_windows(short_clip, PAPER))
  assert padded.padded and padded.duration_s == pytest.approx(2.0, abs=0.05)
  assert padded.audio.shape == (32000,)
  assert _onsets_s(padded.audio, 8000) == pytest.approx([0.5, 0.5 + padded.duration_s], abs=0.003)
  times = media_windows.frame_times(0.0, PAPER)
  looped_times = np.where(times < padded.duration_s, times, times % padded.duration_s)
  np.testing.assert_array_equal(padded.frames, media_video.read_frames(short_clip, looped_times, 64, 1))
  skip = dataclasses.replace(PAPER, short_policy="skip")
  assert list(media_windows.iter_windows(short_clip, skip)) == []


def test_too_short_input_raises(short_clip):
  spec = dataclasses.replace(PAPER, min_duration_s=3.0)
  _assert_media_error(short_clip, "too_short", call=lambda p: list(media_windows.iter_windows(p, spec)))


def test_rgb_frames_keep_channel_order_and_gray_is_luminance(tmp_path):
  path = write_clip(tmp_path / "red.mkv", 1.5, fps=fractions.Fraction(25), audio=False,
                    base_rgb=(200, 30, 30))
  rgb = media_video.read_frames(path, [0.5], 8, 3)[0].astype(int)
  assert rgb.shape == (8, 8, 3)
  assert abs(rgb[..., 0].mean() - 200) < 12 and abs(rgb[..., 2].mean() - 30) < 12
  gray = media_video.read_frames(path, [0.5], 8, 1)[0].astype(int)
  assert gray.shape == (8, 8, 1)
  assert abs(gray.mean() - (0.299 * 200 + 0.587 * 30 + 0.114 * 30)) < 12
  with pytest.raises(ValueError, match="channels"):
    media_video.read_frames(path, [0.5], 8, 2)


def test_window_plan_for_lengths_hops_and_policies():
  plan = media_windows.window_starts(10.0, PAPER, 4.0)
  assert plan == [(0.0, False), (4.0, False), (8.0, True)]          # 2 s tail kept, padded
  assert media_windows.window_starts(8.5, PAPER, 4.0) == [(0.0, False), (4.0, False)]   # 0.5 s tail < 1 s minimum
  assert media_windows.window_starts(7.98, PAPER, 4.0) == [(0.0, False), (4.0, False)]  # within tolerance: full
  assert media_windows.window_starts(10.0, dataclasses.replace(PAPER, short_policy="skip"), 4.0) == [
      (0.0, False), (4.0, False)]
  assert media_windows.window_starts(6.0, PAPER, 1.0) == [(0.0, False), (1.0, False), (2.0, False)]
  assert media_windows.window_starts(2.0, PAPER, 4.0) == [(0.0, True)]
  with pytest.raises(ValueError):
    media_windows.window_starts(10.0, PAPER, 0.0)
