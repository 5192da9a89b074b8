"""Feature computation: shapes and dtypes of the schema, the paper preset's numbers."""
import numpy as np
import pytest

from babycry_jax.data import schema
from babycry_jax.data import features
from babycry_jax.data import media_windows, yamnet_features
from babycry_jax.data.media_windows import Window

PAPER = schema.preset("paper")


def _tone(freq_hz: float, spec: schema.FeatureSpec, amplitude: float = 0.5) -> np.ndarray:
  t = np.arange(spec.window_samples) / spec.sample_rate
  return (amplitude * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)


def _window(spec, audio=True, video=True, seed=0) -> Window:
  rng = np.random.default_rng(seed)
  samples_16k = int(round(spec.window_s * yamnet_features.SAMPLE_RATE))
  return Window(
      start_s=0.0, duration_s=spec.window_s,
      audio=(0.1 * rng.standard_normal(spec.window_samples)).astype(np.float32) if audio else None,
      frames=rng.integers(0, 256, (spec.num_frames, spec.frame_size, spec.frame_size, spec.channels),
                          dtype=np.uint8) if video else None,
      padded=False,
      audio_16k=(0.1 * rng.standard_normal(samples_16k)).astype(np.float32) if audio else None)


def test_frame_times_are_centres_of_equal_parts():
  times = media_windows.frame_times(10.0, PAPER)
  assert times.shape == (18,)
  step = 4.0 / 18
  np.testing.assert_allclose(times, 10.0 + step / 2 + step * np.arange(18))
  assert times[0] > 10.0 and times[-1] < 14.0


@pytest.mark.parametrize("preset", ["paper", "rgb"])
def test_window_features_match_the_record_schema(preset):
  spec = schema.preset(preset)
  feats = features.window_features(_window(spec), spec)
  assert set(feats) == {"audio/log_mel", "audio/mfcc_stats", "audio/yamnet_log_mel", "video/frames",
                        "has_audio", "has_video"}
  record = schema.features_dict(spec)
  for key in ("audio/log_mel", "audio/mfcc_stats", "audio/yamnet_log_mel", "video/frames"):
    assert feats[key].shape == record[key].shape, key
    assert feats[key].dtype == np.dtype(record[key].np_dtype), key
  assert feats["audio/log_mel"].shape == (400, 128)
  assert feats["audio/yamnet_log_mel"].shape == (398, 64)
  assert feats["audio/mfcc_stats"].shape == (78,)
  assert feats["video/frames"].shape == (18, 64, 64, 1 if preset == "paper" else 3)
  assert feats["has_audio"] is True and feats["has_video"] is True
  assert np.isfinite(feats["audio/log_mel"].astype(np.float32)).all()
  # The record encodes without complaint.
  record.encode_example({
      "clip_id": "x@0", "source_id": "x", "label": "crying", "start_s": 0.0, "duration_s": 4.0,
      "padded": False, **feats})


def test_missing_tracks_give_zeros_and_false_flags():
  audio_only = features.window_features(_window(PAPER, video=False), PAPER)
  assert audio_only["has_video"] is False and audio_only["has_audio"] is True
  assert audio_only["video/frames"].shape == (18, 64, 64, 1) and not audio_only["video/frames"].any()
  video_only = features.window_features(_window(PAPER, audio=False), PAPER)
  assert video_only["has_audio"] is False and video_only["has_video"] is True
  assert not video_only["audio/log_mel"].any() and not video_only["audio/mfcc_stats"].any()
  assert not video_only["audio/yamnet_log_mel"].any()
  assert video_only["audio/log_mel"].dtype == np.float16


def test_window_with_wrong_audio_length_is_refused():
  window = _window(PAPER)
  window.audio = window.audio[:1000]
  with pytest.raises(ValueError, match="expected"):
    features.window_features(window, PAPER)


@pytest.mark.parametrize("freq_hz", [300.0, 1000.0, 2500.0])
def test_log_mel_of_a_tone_peaks_in_the_band_holding_its_frequency(freq_hz):
  import librosa
  mel = features.log_mel(_tone(freq_hz, PAPER), PAPER)
  assert mel.shape == (PAPER.mel_frames, PAPER.n_mels) and mel.dtype == np.float16
  peak_band = int(np.argmax(mel.astype(np.float32).mean(axis=0)))
  # Band b's triangle spans edges[b]..edges[b + 2] with its apex at edges[b + 1].
  edges = librosa.mel_frequencies(PAPER.n_mels + 2, fmin=0.0, fmax=PAPER.sample_rate / 2)
  assert edges[peak_band] < freq_hz < edges[peak_band + 2]
  assert abs(edges[peak_band + 1] - freq_hz) < (edges[peak_band + 2] - edges[peak_band]) / 2


def test_log_mel_equals_librosa_paper_recipe():
  """The numpy STFT path gives librosa's numbers for the paper preset."""
  import librosa
  audio = _window(PAPER).audio + _tone(700.0, PAPER, 0.2)
  padded = np.concatenate([audio, np.zeros(PAPER.stft_window - PAPER.stft_hop, np.float32)])
  reference_power = librosa.feature.melspectrogram(
      y=padded, sr=8000, n_fft=800, hop_length=80, window="hamming", center=False,
      power=2.0, n_mels=128)
  reference_db = librosa.power_to_db(reference_power, ref=1.0, top_db=None)
  assert reference_db.shape == (128, 400)
  ours = features.log_mel(audio, PAPER).astype(np.float32).T
  # float16 storage: about 3 significant digits of a dB value.
  np.testing.assert_allclose(ours, reference_db, atol=0.05, rtol=2e-3)

  reference_mfcc = librosa.feature.mfcc(S=reference_db, n_mfcc=13)
  parts = [reference_mfcc, librosa.feature.delta(reference_mfcc),
           librosa.feature.delta(reference_mfcc, order=2)]
  reference_stats = np.concatenate([p.mean(axis=1) for p in parts] + [p.var(axis=1) for p in parts])
  np.testing.assert_allclose(features.mfcc_stats(audio, PAPER), reference_stats, rtol=1e-3, atol=1e-3)


def test_mfcc_stats_finite_also_for_silence():
  for audio in (np.zeros(PAPER.window_samples, np.float32), _tone(440.0, PAPER)):
    stats = features.mfcc_stats(audio, PAPER)
    assert stats.shape == (78,) and stats.dtype == np.float32
    assert np.isfinite(stats).all()
  silence = features.log_mel(np.zeros(PAPER.window_samples, np.float32), PAPER)
  assert float(silence.min()) == pytest.approx(-100.0)   # the documented floor


def test_louder_audio_gives_higher_log_mel_by_its_gain_in_db():
  quiet = features.log_mel(_tone(1000.0, PAPER, 0.05), PAPER).astype(np.float32)
  loud = features.log_mel(_tone(1000.0, PAPER, 0.5), PAPER).astype(np.float32)
  band = int(np.argmax(loud.mean(axis=0)))
  assert np.median(loud[:, band] - quiet[:, band]) == pytest.approx(20.0, abs=0.1)
