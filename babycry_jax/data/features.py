"""Features of one window: log-mel spectrogram, MFCC statistics, sampled frames.

The paper preset (babycry_jax.schema.FeatureSpec defaults): 8 kHz mono, STFT
window 800 / hop 80 samples (100 ms / 10 ms), periodic Hamming window, no
centering, power spectrogram, 128 Slaney mel bands (librosa's filter bank),
dB with ref 1.0 and librosa's amin 1e-10, i.e. a floor of -100 dB and no top_db
clipping. The waveform is padded at its end by (stft_window - stft_hop) zeros,
so a window of N samples gives N // stft_hop frames (4 s -> 400).

The STFT is computed with numpy/scipy (the same numbers as librosa.stft with
center=False, checked by the tests) because librosa's own first call in a
process costs seconds of JIT compilation; only the mel filter bank comes from
librosa, built once per spec.
"""
from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Union

import numpy as np
import scipy.fft
import scipy.signal
import scipy.sparse

from babycry_jax.data import schema, yamnet_features
from babycry_jax.data.schema import FeatureSpec

if TYPE_CHECKING:
  from babycry_jax.data.media_windows import Window

# librosa.power_to_db's default amin: power below it reads as -100 dB.
POWER_FLOOR = 1e-10
# Frames either side used by the delta regression (librosa.feature.delta default).
DELTA_WIDTH = 9


@functools.lru_cache(maxsize=8)
def _mel_basis(sample_rate: int, n_fft: int, n_mels: int) -> scipy.sparse.csr_matrix:
  """[n_mels, n_fft // 2 + 1] Slaney mel filter bank, sparse: each band spans few bins."""
  import librosa   # imported here: only feature computation needs it
  return scipy.sparse.csr_matrix(
      librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels).astype(np.float32))


@functools.lru_cache(maxsize=8)
def _window_fn(name: str, length: int) -> np.ndarray:
  # fftbins=True: the periodic window, as librosa.stft uses.
  return scipy.signal.get_window(name, length, fftbins=True).astype(np.float32)


def _power_spectrogram(audio: np.ndarray, spec: FeatureSpec) -> np.ndarray:
  """float32 [n_fft // 2 + 1, len(audio) // stft_hop]: |STFT|^2, uncentered, end-padded."""
  padded = np.concatenate([np.asarray(audio, np.float32),
                           np.zeros(spec.stft_window - spec.stft_hop, np.float32)])
  frames = np.lib.stride_tricks.sliding_window_view(padded, spec.stft_window)[::spec.stft_hop]
  spectrum = scipy.fft.rfft(frames * _window_fn(spec.stft_window_fn, spec.stft_window), axis=-1)
  return (spectrum.real ** 2 + spectrum.imag ** 2).astype(np.float32).T


def _log_mel_db(audio: np.ndarray, spec: FeatureSpec) -> np.ndarray:
  """float32 [n_mels, frames] in dB."""
  audio = np.asarray(audio)
  if audio.ndim != 1:
    raise ValueError(f"audio must be mono [samples], got shape {audio.shape}")
  if len(audio) < spec.stft_hop:
    raise ValueError(f"audio has {len(audio)} samples, fewer than one STFT hop ({spec.stft_hop})")
  mel = _mel_basis(spec.sample_rate, spec.stft_window, spec.n_mels) @ _power_spectrogram(audio, spec)
  return 10.0 * np.log10(np.maximum(mel, POWER_FLOOR))


def log_mel(audio: np.ndarray, spec: FeatureSpec) -> np.ndarray:
  """Log-mel spectrogram of mono audio at spec.sample_rate.

  Args:
    audio: float32 [samples]; a window has spec.window_samples.

  Returns:
    float16 [samples // spec.stft_hop, spec.n_mels] in dB (spec.mel_frames rows for a window).
  """
  return _log_mel_db(audio, spec).T.astype(np.float16)


def _delta(x: np.ndarray, order: int) -> np.ndarray:
  """Savitzky-Golay derivative along time, as librosa.feature.delta(mode="interp")."""
  width = min(DELTA_WIDTH, x.shape[-1] if x.shape[-1] % 2 else x.shape[-1] - 1)
  if width <= order:   # too few frames for a derivative
    return np.zeros_like(x)
  return scipy.signal.savgol_filter(x, window_length=width, polyorder=order, deriv=order,
                                    axis=-1, mode="interp")


def _mfcc_stats_from_db(mel_db: np.ndarray, spec: FeatureSpec) -> np.ndarray:
  mfcc = scipy.fft.dct(mel_db, type=2, axis=0, norm="ortho")[:spec.n_mfcc]
  parts = (mfcc, _delta(mfcc, 1), _delta(mfcc, 2))
  stats = [p.mean(axis=1) for p in parts] + [p.var(axis=1) for p in parts]
  return np.concatenate(stats).astype(np.float32)


def mfcc_stats(audio: np.ndarray, spec: FeatureSpec) -> np.ndarray:
  """MFCC summary of mono audio, from the same mel spectrogram as log_mel.

  Args:
    audio: float32 [samples] at spec.sample_rate.

  Returns:
    float32 [6 * spec.n_mfcc] (78 for 13 MFCC), in this order: mean of MFCC,
    of delta, of delta-delta, then variance of MFCC, of delta, of delta-delta
    (over time; DCT-II ortho of the dB mel bands, as librosa.feature.mfcc).
  """
  return _mfcc_stats_from_db(_log_mel_db(audio, spec), spec)


def yamnet_log_mel(audio_16k: np.ndarray, spec: FeatureSpec) -> np.ndarray:
  """float16 [spec.yamnet_frames, 64]: YAMNet's log-mel of a window's 16 kHz audio, as stored."""
  expected = (int(round(spec.window_s * yamnet_features.SAMPLE_RATE)),)
  if audio_16k is None or np.shape(audio_16k) != expected:
    raise ValueError(f"window 16 kHz audio has shape {np.shape(audio_16k)}, expected {expected}")
  return yamnet_features.log_mel(audio_16k).astype(np.float16)


def window_features(window: "Window", spec: FeatureSpec) -> dict[str, Union[np.ndarray, bool]]:
  """The feature part of one record (schema.WINDOW_FEATURES, shapes of schema.features_dict).

  A missing track gives zeros with its has_* flag False.

  Returns:
    {"audio/log_mel": float16 [mel_frames, n_mels], "audio/mfcc_stats": float32 [78],
     "audio/yamnet_log_mel": float16 [yamnet_frames, 64] (of window.audio_16k),
     "video/frames": uint8 [num_frames, frame_size, frame_size, channels],
     "has_audio": bool, "has_video": bool}
  """
  out = schema.empty_window_features(spec)
  if window.audio is not None:
    if window.audio.shape != (spec.window_samples,):
      raise ValueError(f"window audio has shape {window.audio.shape}, expected ({spec.window_samples},)")
    mel_db = _log_mel_db(window.audio, spec)
    out[schema.LOG_MEL] = mel_db.T.astype(np.float16)
    out[schema.MFCC_STATS] = _mfcc_stats_from_db(mel_db, spec)
    out[schema.YAMNET_LOG_MEL] = yamnet_log_mel(window.audio_16k, spec)
    out[schema.HAS_AUDIO] = True
  if window.frames is not None:
    expected = schema.frames_shape(spec)
    if window.frames.shape != expected:
      raise ValueError(f"window frames have shape {window.frames.shape}, expected {expected}")
    out[schema.FRAMES] = np.asarray(window.frames, np.uint8)
    out[schema.HAS_VIDEO] = True
  return out
