"""Audio and frames on the media timeline: real study clips, generated clips with known events."""
import dataclasses
import fractions

import numpy as np
import pytest
import scipy.io.wavfile

import media_clips
from babycry_jax.data import media_audio, media_probe, media_video, media_windows, schema

PAPER = schema.preset("paper")
STUDY_WAVS = ["babywav/1001.wav", "babywav/1022.wav", "otherwav/1651.wav",
              "otherwav/1653.wav", "otherwav/1655.wav"]


# ----------------------------------------------------------------------------- real media


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
  media_clips.write_clip(path, fps=fps, flashes=FLASHES, bursts=FLASHES, video_codec=video_codec,
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
  np.testing.assert_allclose(media_clips.onsets_s(audio, 8000), [a for a, _ in FLASHES], atol=0.003)
  # A read that starts mid-file uses the same timeline.
  part = media_audio.read_audio(path, 8000, start_s=2.0, duration_s=1.5)
  assert part.shape == (12000,)
  np.testing.assert_allclose(media_clips.onsets_s(part, 8000), [FLASHES[1][0] - 2.0], atol=0.003)
  np.testing.assert_allclose(part, audio[16000:28000], atol=1e-4)


def test_flashes_show_from_their_first_frame_timestamp(timing_clip):
  path, fps = timing_clip
  times = np.arange(0.0, 3.9, 0.005)
  frames = media_video.read_frames(path, times, 16, 1)
  assert frames.shape == (len(times), 16, 16, 1) and frames.dtype == np.uint8
  white = media_clips.is_white(frames)
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
    np.testing.assert_array_equal(media_clips.is_white(window.frames), expected)
    bursts = [a - window.start_s for a, _ in FLASHES if 0 <= a - window.start_s < spec.window_s - 0.05]
    np.testing.assert_allclose(media_clips.onsets_s(window.audio, 8000), bursts, atol=0.003)
  # window_at gives the very same window.
  again = media_windows.window_at(path, spec, 1.0)
  np.testing.assert_array_equal(again.frames, windows[1].frames)
  np.testing.assert_allclose(again.audio, windows[1].audio, atol=1e-5)


def test_rgb_frames_keep_channel_order_and_gray_is_luminance(tmp_path):
  path = media_clips.write_clip(tmp_path / "red.mkv", 1.5, fps=fractions.Fraction(25), audio=False,
                                base_rgb=(200, 30, 30))
  rgb = media_video.read_frames(path, [0.5], 8, 3)[0].astype(int)
  assert rgb.shape == (8, 8, 3)
  assert abs(rgb[..., 0].mean() - 200) < 12 and abs(rgb[..., 2].mean() - 30) < 12
  gray = media_video.read_frames(path, [0.5], 8, 1)[0].astype(int)
  assert gray.shape == (8, 8, 1)
  assert abs(gray.mean() - (0.299 * 200 + 0.587 * 30 + 0.114 * 30)) < 12
  with pytest.raises(ValueError, match="channels"):
    media_video.read_frames(path, [0.5], 8, 2)

