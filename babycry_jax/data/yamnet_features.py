"""YAMNet's front end: the log-mel patches its AudioSet weights were trained on.

YAMNet (babycry_jax/models/yamnet.py) reads 96 x 64 patches of a log-mel
spectrogram made exactly as in its training code: mono 16 kHz float audio, the
STFT magnitude (not power) with a 400-sample periodic Hann window every 160
samples and a 512-point FFT, no centering and no padding; 64 mel bands between
125 and 7500 Hz on the HTK mel scale (1127 ln(1 + f / 700)), triangles in mel
with the DC bin left out, as tf.signal.linear_to_mel_weight_matrix builds them;
log(mel + 0.001); patches of 96 frames (0.96 s) every 48 frames (0.48 s).
These numbers are the model's, not the dataset's: changing one would feed the
pretrained weights something they never saw, so they are constants here.

The project decodes every input at its feature spec's rate (8 kHz) first, and
YAMNet's 16 kHz audio is that audio upsampled (data.media_audio), so a full-band
recording reaches YAMNet band-limited like the 8 kHz cries it is trained on.
"""
from __future__ import annotations

import functools

import numpy as np
import scipy.fft

SAMPLE_RATE = 16000
STFT_WINDOW = 400          # 25 ms
STFT_HOP = 160             # 10 ms
FFT_LENGTH = 512
N_MELS = 64
MEL_LOW_HZ, MEL_HIGH_HZ = 125.0, 7500.0
LOG_OFFSET = 0.001
PATCH_FRAMES = 96          # 0.96 s
PATCH_HOP_FRAMES = 48      # 0.48 s
PATCH_HOP_S = PATCH_HOP_FRAMES * STFT_HOP / SAMPLE_RATE
# The samples one patch spans, and the samples between patch starts.
PATCH_SAMPLES = (PATCH_FRAMES - 1) * STFT_HOP + STFT_WINDOW
PATCH_HOP_SAMPLES = PATCH_HOP_FRAMES * STFT_HOP


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
  return 1127.0 * np.log1p(np.asarray(hz, np.float64) / 700.0)


@functools.lru_cache(maxsize=1)
def mel_matrix() -> np.ndarray:
  """float32 [FFT_LENGTH // 2 + 1, N_MELS]: linear STFT bins -> mel bands (row 0, DC, is zero)."""
  bins = FFT_LENGTH // 2 + 1
  bin_mel = _hz_to_mel(np.linspace(0.0, SAMPLE_RATE / 2, bins)[1:])[:, None]
  edges = np.linspace(_hz_to_mel(MEL_LOW_HZ), _hz_to_mel(MEL_HIGH_HZ), N_MELS + 2)
  lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]
  rising = (bin_mel - lower) / (centre - lower)
  falling = (upper - bin_mel) / (upper - centre)
  weights = np.maximum(0.0, np.minimum(rising, falling))
  return np.concatenate([np.zeros((1, N_MELS)), weights]).astype(np.float32)


@functools.lru_cache(maxsize=1)
def _hann() -> np.ndarray:
  n = np.arange(STFT_WINDOW)
  return (0.5 - 0.5 * np.cos(2.0 * np.pi * n / STFT_WINDOW)).astype(np.float32)


def num_frames(num_samples: int) -> int:
  """STFT frames of num_samples of 16 kHz audio (0 when shorter than one STFT window)."""
  return max(0, 1 + (num_samples - STFT_WINDOW) // STFT_HOP)


def num_patches(frames: int) -> int:
  """Patches of a log-mel of `frames` frames (0 when shorter than one patch)."""
  return max(0, 1 + (frames - PATCH_FRAMES) // PATCH_HOP_FRAMES)


def log_mel(audio_16k: np.ndarray) -> np.ndarray:
  """YAMNet's log-mel spectrogram of mono 16 kHz audio.

  Args:
    audio_16k: float32 [samples], at least STFT_WINDOW of them.

  Returns:
    float32 [num_frames(samples), N_MELS]; frame k covers samples
    [k * STFT_HOP, k * STFT_HOP + STFT_WINDOW).
  """
  audio = np.asarray(audio_16k, np.float32)
  if audio.ndim != 1:
    raise ValueError(f"audio must be mono [samples], got shape {audio.shape}")
  if len(audio) < STFT_WINDOW:
    raise ValueError(f"audio has {len(audio)} samples, fewer than one STFT window ({STFT_WINDOW})")
  frames = np.lib.stride_tricks.sliding_window_view(audio, STFT_WINDOW)[::STFT_HOP]
  magnitude = np.abs(scipy.fft.rfft(frames * _hann(), n=FFT_LENGTH, axis=-1)).astype(np.float32)
  return np.log(magnitude @ mel_matrix() + LOG_OFFSET)


def patches(log_mel_frames: np.ndarray) -> np.ndarray:
  """[num_patches, PATCH_FRAMES, N_MELS]: patch p is frames [p * 48, p * 48 + 96) (a view)."""
  frames = np.asarray(log_mel_frames)
  count = num_patches(len(frames))
  if count == 0:
    return np.zeros((0, PATCH_FRAMES, frames.shape[-1]), frames.dtype)
  windows = np.lib.stride_tricks.sliding_window_view(frames, PATCH_FRAMES, axis=0)
  return np.moveaxis(windows[:count * PATCH_HOP_FRAMES:PATCH_HOP_FRAMES], -1, 1)
