"""Synthetic sounds of the embedded default: cries, laughter, speech, music and room noise.

Every signal is float64 [num_samples] at SAMPLE_RATE_HZ, CLIP_S long, and
drawn from the generator it is given, in a fixed order: the same generator
state gives the same samples.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np
from scipy import signal as sps

from preprocess.clip_format import CLIP_S, SAMPLE_RATE_HZ


@dataclasses.dataclass(frozen=True)
class Burst:
  start_s: float
  end_s: float
  amplitude: float


def _sample_times() -> np.ndarray:
  return np.arange(int(CLIP_S * SAMPLE_RATE_HZ)) / SAMPLE_RATE_HZ


def burst_schedule(rng: np.random.Generator, burst_s=(0.5, 1.5), gap_s=(0.2, 0.5),
                    long_pause_prob: float = 0.15) -> list[Burst]:
  """Bursts separated by gaps; the first may start before the clip (phase)."""
  bursts = []
  t = rng.uniform(-1.2, 0.6)
  while t < CLIP_S:
    length = rng.uniform(*burst_s)
    bursts.append(Burst(t, t + length, rng.uniform(0.6, 1.0)))
    gap = rng.uniform(*gap_s)
    if rng.random() < long_pause_prob:
      gap += rng.uniform(0.5, 1.2)
    t += length + gap
  return bursts


def _smoothstep(x: np.ndarray) -> np.ndarray:
  x = np.clip(x, 0.0, 1.0)
  return x * x * (3.0 - 2.0 * x)


def burst_envelope(t_s: np.ndarray, bursts: list[Burst], attack_s: float = 0.06,
                   release_s: float = 0.1) -> np.ndarray:
  """Smooth 0..1 loudness of the bursts at times t_s (any shape)."""
  env = np.zeros_like(t_s, dtype=np.float64)
  for b in bursts:
    rise = _smoothstep((t_s - b.start_s) / attack_s)
    fall = _smoothstep((b.end_s - t_s) / release_s)
    # A cry or laugh fades a little as the breath runs out.
    fade = 1.0 - 0.2 * np.clip((t_s - b.start_s) / (b.end_s - b.start_s), 0.0, 1.0)
    env = np.maximum(env, b.amplitude * rise * fall * fade)
  return env


def _smooth_noise(rng: np.random.Generator, n: int, rate_hz: float) -> np.ndarray:
  """Zero-mean, unit-ish random curve varying at about rate_hz, n samples long."""
  knots = int(CLIP_S * rate_hz) + 4
  values = rng.standard_normal(knots)
  return np.interp(np.linspace(1.0, knots - 2.0, n), np.arange(knots), values)


def _colored_noise(rng: np.random.Generator, n: int, tilt: float, lowpass_hz: float,
                   highpass_hz: float = 60.0) -> np.ndarray:
  """Noise with power ~ f^-tilt between the cut-offs, unit RMS."""
  spectrum = np.fft.rfft(rng.standard_normal(n))
  freqs = np.fft.rfftfreq(n, 1.0 / SAMPLE_RATE_HZ)
  f = np.maximum(freqs, 1.0)
  gain = f ** (-tilt / 2.0)
  gain /= 1.0 + (f / lowpass_hz) ** 4
  gain *= 1.0 / (1.0 + (highpass_hz / f) ** 4)
  x = np.fft.irfft(spectrum * gain, n)
  return x / (np.sqrt(np.mean(x * x)) + 1e-12)


def _resonator(x: np.ndarray, center_hz: float, bandwidth_hz: float) -> np.ndarray:
  """Two-pole resonance, the building block of formants."""
  r = math.exp(-math.pi * bandwidth_hz / SAMPLE_RATE_HZ)
  theta = 2.0 * math.pi * center_hz / SAMPLE_RATE_HZ
  return sps.lfilter([1.0 - r], [1.0, -2.0 * r * math.cos(theta), r * r], x)


def _formant_filter(x: np.ndarray, formants_hz: tuple[float, ...]) -> np.ndarray:
  y = np.zeros_like(x)
  for i, f in enumerate(formants_hz):
    # Parallel formants, upper ones weaker, like a vowel's spectral envelope.
    y += _resonator(x, f, 60.0 + 0.06 * f) * (0.8 ** i)
  return y


def _sawtooth(phase: np.ndarray) -> np.ndarray:
  return 2.0 * np.mod(phase / (2.0 * np.pi), 1.0) - 1.0


def _unit_rms(x: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
  part = x if mask is None or not mask.any() else x[mask]
  return x / (np.sqrt(np.mean(part * part)) + 1e-12)


def cry_audio(rng: np.random.Generator, bursts: list[Burst]) -> np.ndarray:
  """Infant-cry-like voice following `bursts`: [num_samples], unit RMS while crying."""
  t = _sample_times()
  n = t.size
  env = burst_envelope(t, bursts)
  base_hz = rng.uniform(350.0, 550.0)
  f0 = np.full(n, base_hz)
  for b in bursts:
    inside = (t >= b.start_s) & (t < b.end_s + 0.1)
    u = np.clip((t[inside] - b.start_s) / (b.end_s - b.start_s), 0.0, 1.0)
    burst_base = base_hz * rng.uniform(0.92, 1.08)
    rise = rng.uniform(0.05, 0.2)
    # Each cry rises then falls in pitch, dropping at the end of the breath.
    f0[inside] = burst_base * (1.0 + rise * np.sin(np.pi * u) - 0.12 * u ** 3)
  vibrato = rng.uniform(0.01, 0.04) * np.sin(
      2 * np.pi * rng.uniform(4.0, 8.0) * t + rng.uniform(0, 2 * np.pi))
  jitter = 0.02 * _smooth_noise(rng, n, 40.0)
  f0 = f0 * (1.0 + vibrato + jitter)
  phase = 2.0 * np.pi * np.cumsum(f0) / SAMPLE_RATE_HZ
  formant1, formant2 = rng.uniform(900, 1400), rng.uniform(2500, 3500)
  voice = np.zeros(n)
  # Harmonic k is the k-th power of one rotating phasor: multiplying is much
  # cheaper than a sine per harmonic.
  rotor = np.exp(1j * phase)
  harmonic = np.ones(n, np.complex128)
  for k in range(1, int(7000.0 / base_hz) + 1):
    harmonic *= rotor
    fk = k * base_hz
    amp = k ** -0.7 * (1.0 + 3.0 * math.exp(-((fk - formant1) / 450.0) ** 2)
                       + 1.5 * math.exp(-((fk - formant2) / 700.0) ** 2))
    voice += amp * (harmonic * np.exp(1j * rng.uniform(0, 2 * np.pi))).imag
  voice = _unit_rms(voice)
  breath = _colored_noise(rng, n, 0.5, 5000.0, 300.0)
  out = (voice + rng.uniform(0.05, 0.2) * breath) * env
  # Faint noisy inhale in the gap after each burst.
  inhale = np.zeros(n)
  for b in bursts:
    inhale = np.maximum(inhale, _smoothstep((t - b.end_s - 0.05) / 0.08)
                        * _smoothstep((b.end_s + 0.35 - t) / 0.08))
  out += rng.uniform(0.02, 0.08) * inhale * _colored_noise(rng, n, 0.0, 6000.0, 800.0)
  return _unit_rms(out, env > 0.5)


def laugh_audio(rng: np.random.Generator, bursts: list[Burst]) -> np.ndarray:
  """Laughter: each burst is a train of breathy 'ha' pulses; [num_samples]."""
  t = _sample_times()
  n = t.size
  env = burst_envelope(t, bursts)
  pulse_hz = rng.uniform(4.0, 6.0)
  duty = rng.uniform(0.45, 0.6)
  pulse_phase = np.mod(t * pulse_hz + rng.uniform(0, 1), 1.0)
  pulses = np.where(pulse_phase < duty, np.sin(np.pi * pulse_phase / duty), 0.0) ** 1.5
  f0 = np.full(n, rng.uniform(220.0, 380.0))
  for b in bursts:
    inside = (t >= b.start_s) & (t < b.end_s + 0.1)
    u = np.clip((t[inside] - b.start_s) / (b.end_s - b.start_s), 0.0, 1.0)
    f0[inside] *= 1.1 - 0.25 * u  # laughs fall in pitch along a burst
  f0 = f0 * (1.0 + 0.03 * _smooth_noise(rng, n, 10.0))
  source = _sawtooth(2.0 * np.pi * np.cumsum(f0) / SAMPLE_RATE_HZ)
  aspiration = _colored_noise(rng, n, 0.0, 6000.0, 200.0)
  source = source + rng.uniform(0.3, 0.7) * aspiration
  vowel = (rng.uniform(650, 900), rng.uniform(1100, 1450), rng.uniform(2400, 2800))
  voice = _unit_rms(_formant_filter(source, vowel))
  return _unit_rms(voice * env * pulses, env > 0.5)


_VOWELS_HZ = ((730, 1090, 2440), (530, 1840, 2480), (270, 2290, 3010),
              (570, 840, 2410), (300, 870, 2240), (660, 1720, 2410))


def speech_audio(rng: np.random.Generator) -> tuple[np.ndarray, list[Burst]]:
  """Adult speech-like babble and its syllables as bursts (for the mouth)."""
  t = _sample_times()
  n = t.size
  f0_base = rng.uniform(100.0, 250.0)
  rate_hz = rng.uniform(3.0, 5.0)
  syllables: list[Burst] = []
  f0 = np.full(n, f0_base)
  start = rng.uniform(-0.5, 0.3)
  while start < CLIP_S:
    phrase_end = start + rng.uniform(0.8, 2.5)
    s = start
    while s < phrase_end:
      period = rng.uniform(0.8, 1.2) / rate_hz
      syllables.append(Burst(s, s + period * rng.uniform(0.55, 0.75), rng.uniform(0.5, 1.0)))
      s += period
    inside = (t >= start) & (t < s)
    u = (t[inside] - start) / max(s - start, 1e-3)
    f0[inside] = f0_base * rng.uniform(0.9, 1.15) * (1.0 - 0.15 * u)  # declination
    start = s + rng.uniform(0.25, 0.7)
  f0 = f0 * (1.0 + 0.04 * _smooth_noise(rng, n, 4.0))
  source = _sawtooth(2.0 * np.pi * np.cumsum(f0) / SAMPLE_RATE_HZ)
  source += 0.05 * rng.standard_normal(n)
  out = np.zeros(n)
  fricative = _colored_noise(rng, n, -0.5, 7000.0, 2500.0)
  for syl in syllables:
    lo = max(int((syl.start_s - 0.02) * SAMPLE_RATE_HZ), 0)
    hi = min(int((syl.end_s + 0.05) * SAMPLE_RATE_HZ), n)
    if hi - lo < 16:
      continue
    env = burst_envelope(t[lo:hi], [syl], attack_s=0.025, release_s=0.04)
    vowel = _VOWELS_HZ[rng.integers(len(_VOWELS_HZ))]
    out[lo:hi] += _formant_filter(source[lo:hi] * env, vowel)
    if rng.random() < 0.6:  # a consonant before the vowel
      c_len = int(rng.uniform(0.02, 0.06) * SAMPLE_RATE_HZ)
      c_lo = max(lo - c_len, 0)
      out[c_lo:lo] += (rng.uniform(0.1, 0.3) * fricative[c_lo:lo]
                       * np.hanning(lo - c_lo) if lo > c_lo else 0.0)
  env_all = burst_envelope(t, syllables, 0.025, 0.04)
  return _unit_rms(out, env_all > 0.5), syllables


def music_audio(rng: np.random.Generator) -> tuple[np.ndarray, float]:
  """Notes and chords on a beat, with optional drums; returns (audio, beat_s)."""
  t = _sample_times()
  n = t.size
  beat_s = 60.0 / rng.uniform(80.0, 160.0)
  root_hz = rng.uniform(150.0, 400.0)
  scale = (0, 2, 4, 7, 9, 12, 14, 16) if rng.random() < 0.5 else (0, 2, 3, 5, 7, 8, 10, 12)
  decay_s = rng.uniform(0.15, 0.9)
  harmonic_tilt = rng.uniform(1.0, 2.0)
  out = np.zeros(n)
  onset = -rng.uniform(0, beat_s)
  step = 0
  while onset < CLIP_S:
    chord = rng.random() < 0.35
    degrees = rng.choice(len(scale) - 4, size=1)[0] + np.array([0, 2, 4]) if chord else [
        rng.integers(len(scale))]
    lo = max(int(onset * SAMPLE_RATE_HZ), 0)
    hi = min(int((onset + 2.0 * beat_s) * SAMPLE_RATE_HZ), n)
    if hi > lo:
      local_t = t[lo:hi] - onset
      note_env = np.exp(-local_t / decay_s) * _smoothstep(local_t / 0.01)
      for d in degrees:
        f = root_hz * 2.0 ** (scale[int(d)] / 12.0)
        for h in range(1, 7):
          if h * f < 7000:
            out[lo:hi] += note_env * h ** -harmonic_tilt * np.sin(2 * np.pi * h * f * local_t)
    onset += beat_s if rng.random() < 0.7 else beat_s / 2.0
    step += 1
  if rng.random() < 0.6:  # drums: kick on beats, hi-hat in between
    kick_t = np.mod(t, beat_s)
    kick = np.sin(2 * np.pi * (50 * kick_t + 400 * beat_s * (1 - np.exp(-kick_t / 0.03)))) \
        * np.exp(-kick_t / 0.08)
    hat_t = np.mod(t + beat_s / 2.0, beat_s)
    hat = _colored_noise(rng, n, -1.0, 7500.0, 5000.0) * np.exp(-hat_t / 0.02)
    out = _unit_rms(out) + rng.uniform(0.3, 0.8) * kick + rng.uniform(0.1, 0.4) * hat
  return _unit_rms(out), beat_s


def room_noise(rng: np.random.Generator, loud: bool) -> np.ndarray:
  """Background noise, unit RMS: quiet room hiss, or loud machine/room noise."""
  n = int(CLIP_S * SAMPLE_RATE_HZ)
  t = _sample_times()
  if not loud:
    x = _colored_noise(rng, n, rng.uniform(0.5, 2.0), rng.uniform(2000.0, 7000.0))
    if rng.random() < 0.3:  # mains hum
      x += 0.3 * np.sin(2 * np.pi * rng.choice([50.0, 60.0]) * t)
    return _unit_rms(x)
  # Loud noise covers the cry band on purpose (vacuum, fan, hair dryer, traffic).
  x = _colored_noise(rng, n, rng.uniform(0.0, 1.2), rng.uniform(2500.0, 5000.0), 150.0)
  hum_hz = rng.uniform(80.0, 600.0) * (1.0 + 0.02 * _smooth_noise(rng, n, 1.0))
  hum_phase = 2 * np.pi * np.cumsum(hum_hz) / SAMPLE_RATE_HZ
  hum = sum(k ** -0.8 * np.sin(k * hum_phase + rng.uniform(0, 6.3)) for k in range(1, 10))
  x = x + rng.uniform(0.0, 0.6) * _unit_rms(hum)
  wobble = 1.0 + rng.uniform(0.0, 0.4) * np.sin(2 * np.pi * rng.uniform(0.3, 3.0) * t)
  return _unit_rms(x * wobble)


def _db(level_db: float) -> float:
  return 10.0 ** (level_db / 20.0)


def mix(foreground: np.ndarray | None, noise: np.ndarray, foreground_db: float,
        noise_db: float) -> np.ndarray:
  """Foreground and noise, each at its level in dB re unit RMS: float32 [num_samples].

  A mix louder than 0.98 at its peak is scaled down to that peak.
  """
  out = _db(noise_db) * noise
  if foreground is not None:
    out = out + _db(foreground_db) * foreground
  peak = np.max(np.abs(out))
  if peak > 0.98:  # keep loud mixes from clipping
    out *= 0.98 / peak
  return out.astype(np.float32)
