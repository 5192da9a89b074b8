"""The embedded default dataset: synthetic audio-video clips built on the spot.

A newcomer's first command needs data without any download, so this module
renders `num_clips` clips of 4.0 s each as real media files with a video and an
audio track, deterministically from a seed:

  output_dir/crying/<name>.mp4       H.264 video + AAC audio (about 85%)
  output_dir/not_crying/<name>.avi   MPEG-4 part 2 video + MP3 audio (about 15%)
  output_dir/manifest.csv            path,label,group,kind

Video is 160x120 RGB at 15, 12.5 or 25 fps (chosen per clip, so that the
pipeline must align by timestamps); audio is mono 16 kHz. Each clip is its own
source, so `group` is the clip name.

Scene kinds and their share of the clips (crying 45%, not crying 55%):

| kind            | label      | share | video                              | audio                            |
| --------------- | ---------- | ----- | ---------------------------------- | -------------------------------- |
| cry_face        | crying     | 27%   | crying face, mouth opens with each | cry bursts (f0 350-550 Hz with   |
|                 |            |       | burst, eyes squeezed               | harmonics, vibrato, jitter),     |
|                 |            |       |                                    | inhales, background noise        |
| drowned_cry     | crying     |  9%   | crying face as above               | the cry 12-20 dB below loud      |
|                 |            |       |                                    | machine/room noise               |
| dark_cry        | crying     |  9%   | very dark, noisy, low-contrast     | clear cry                        |
|                 |            |       | room; the crying face barely shows |                                  |
| loudspeaker_cry | not_crying | 11%   | lit scene without a crying face: a | clear cry (same generator)       |
|                 |            |       | TV, a loudspeaker, a calm face or  |                                  |
|                 |            |       | objects                            |                                  |
| laughing_face   | not_crying | 11%   | face drawn exactly like a crying   | laughter: bursts of "ha" pulses  |
|                 |            |       | one (mouth opens in bursts, eyes   | at 4-6 Hz, f0 220-380 Hz, breathy|
|                 |            |       | squeezed)                          |                                  |
| dark_other      | not_crying |  9%   | dark room as in dark_cry: mostly a | laughter, speech, music or noise |
|                 |            |       | laughing face, else talking face   | matching the scene               |
|                 |            |       | or objects                         |                                  |
| noisy_room      | not_crying |  7%   | lit room with a calm face or       | loud machine/room noise, drawn   |
|                 |            |       | objects                            | like drowned_cry's noise         |
| talking_face    | not_crying |  8%   | face, eyes open and blinking,      | speech: voiced syllables at      |
|                 |            |       | mouth moves with each syllable     | 3-5 Hz, f0 100-250 Hz, formants  |
| music           | not_crying |  5%   | shapes moving and pulsing          | notes and chords on a beat, drums|
| quiet_room      | not_crying |  4%   | room with objects drifting slowly  | faint room noise, rare clicks    |

Why these kinds: each single modality is fooled by some kind (audio by
loudspeaker_cry and drowned_cry, video by laughing_face and the dark scenes),
while every pair of (audio evidence, video evidence) has one label, so a fusion
model can beat either modality alone. By the shares above, a perfect audio-only
or video-only classifier tops out near 0.8 F1; a fusion model can reach ~1.0.

Every clip also varies burst start phase, burst count and length, loudness,
noise level, frame rate, face size, position, skin tone, head motion and the
background. A clip depends only on (seed, clip index), so the worker count does
not change the output; encoders run single-threaded with fixed settings, so the
same seed gives the same bytes on one machine.

`build_dataset` renders the clips and runs the Beam job over them; the
training command calls it when the embedded default's dataset is missing.
Command line: `python -m preprocess.embedded_default --output DIR [--num_clips N] [--seed S]`.
"""
from __future__ import annotations

import concurrent.futures
import csv
import dataclasses
import fractions
import functools
import json
import math
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
from typing import Callable

import av
import cv2
import numpy as np
from scipy import signal as sps

CLIP_S = 4.0
SAMPLE_RATE_HZ = 16000
FRAME_WIDTH = 160
FRAME_HEIGHT = 120
FRAME_RATES = (fractions.Fraction(15), fractions.Fraction(25, 2), fractions.Fraction(25))
FRAME_RATE_PROBS = (0.5, 0.25, 0.25)
AVI_SHARE = 0.15
MANIFEST_NAME = "manifest.csv"
PARAMS_NAME = "generator.json"
MANIFEST_COLUMNS = ("path", "label", "group", "kind")
GENERATOR_VERSION = 1
AAC_BIT_RATE = 48_000
MP3_BIT_RATE = 48_000

# kind -> (label, share of all clips); the module docstring explains each.
KINDS: dict[str, tuple[str, float]] = {
    "cry_face": ("crying", 0.27),
    "drowned_cry": ("crying", 0.09),
    "dark_cry": ("crying", 0.09),
    "loudspeaker_cry": ("not_crying", 0.11),
    "laughing_face": ("not_crying", 0.11),
    "dark_other": ("not_crying", 0.09),
    "noisy_room": ("not_crying", 0.07),
    "talking_face": ("not_crying", 0.08),
    "music": ("not_crying", 0.05),
    "quiet_room": ("not_crying", 0.04),
}


# ----------------------------------------------------------------------------
# Audio synthesis (all signals float64 [num_samples] at SAMPLE_RATE_HZ).
# ----------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Burst:
  start_s: float
  end_s: float
  amplitude: float


def _sample_times() -> np.ndarray:
  return np.arange(int(CLIP_S * SAMPLE_RATE_HZ)) / SAMPLE_RATE_HZ


def _burst_schedule(rng: np.random.Generator, burst_s=(0.5, 1.5), gap_s=(0.2, 0.5),
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


# ----------------------------------------------------------------------------
# Video rendering (frames uint8 [num_frames, FRAME_HEIGHT, FRAME_WIDTH, 3], BGR).
# ----------------------------------------------------------------------------

def _background(rng: np.random.Generator) -> np.ndarray:
  """A coloured, softly textured wall: float32 [H, W, 3]."""
  base = rng.uniform(40, 220, size=3)
  coarse = rng.standard_normal((rng.integers(3, 9), rng.integers(3, 9), 3)).astype(np.float32)
  texture = cv2.resize(coarse, (FRAME_WIDTH, FRAME_HEIGHT), interpolation=cv2.INTER_CUBIC)
  img = base[None, None, :] + rng.uniform(8, 35) * texture
  if rng.random() < 0.5:  # stripes (wallpaper, cot bars)
    period = rng.uniform(8, 30)
    x = np.arange(FRAME_WIDTH)[None, :, None]
    img = img + rng.uniform(5, 25) * np.sign(np.sin(2 * np.pi * x / period))
  if rng.random() < 0.5:  # floor or table edge
    y0 = int(rng.uniform(0.65, 0.9) * FRAME_HEIGHT)
    img[y0:] = img[y0:] * rng.uniform(0.5, 0.9) + rng.uniform(0, 40)
  return np.clip(img, 0, 255).astype(np.float32)


@dataclasses.dataclass
class _Shape:
  kind: str  # circle | rect
  color: tuple[float, float, float]
  x: float
  y: float
  size: float
  vx: float
  vy: float


def _random_shapes(rng: np.random.Generator, count: int, speed: float) -> list[_Shape]:
  shapes = []
  for _ in range(count):
    angle = rng.uniform(0, 2 * np.pi)
    v = speed * rng.uniform(0.5, 1.0)
    shapes.append(_Shape("circle" if rng.random() < 0.5 else "rect",
                         tuple(float(c) for c in rng.uniform(20, 235, size=3)),
                         rng.uniform(15, FRAME_WIDTH - 15), rng.uniform(15, FRAME_HEIGHT - 15),
                         rng.uniform(8, 28), v * math.cos(angle), v * math.sin(angle)))
  return shapes


def _draw_shapes(img: np.ndarray, shapes: list[_Shape], t_s: float, scale: float = 1.0) -> None:
  for s in shapes:
    # Bounce inside the frame: fold the straight path back at the edges.
    x = _fold(s.x + s.vx * t_s, FRAME_WIDTH)
    y = _fold(s.y + s.vy * t_s, FRAME_HEIGHT)
    r = max(int(s.size * scale), 2)
    if s.kind == "circle":
      cv2.circle(img, (int(x), int(y)), r, s.color, -1, cv2.LINE_AA)
    else:
      cv2.rectangle(img, (int(x - r), int(y - 0.7 * r)), (int(x + r), int(y + 0.7 * r)),
                    s.color, -1, cv2.LINE_AA)


def _fold(v: float, size: float) -> float:
  period = 2.0 * size
  v = math.fmod(v, period)
  v = v + period if v < 0 else v
  return v if v <= size else period - v


@dataclasses.dataclass
class _Face:
  cx: float
  cy: float
  height: float
  width: float
  skin: tuple[float, float, float]
  hair: tuple[float, float, float] | None
  sway_px: float
  sway_hz: float
  sway_phase: float


def _random_face(rng: np.random.Generator) -> _Face:
  height = rng.uniform(0.58, 0.85) * FRAME_HEIGHT
  width = height * rng.uniform(0.72, 0.9)
  light = rng.uniform(0, 1)
  # Skin tones from dark brown to pale, in BGR.
  rgb = np.array([110, 72, 52]) + light * np.array([140, 135, 125])
  skin = tuple(float(c) for c in np.clip(rgb[::-1] + rng.uniform(-10, 10, 3), 0, 255))
  hair = tuple(float(c) for c in rng.uniform(10, 90, 3)) if rng.random() < 0.6 else None
  margin_x = FRAME_WIDTH / 2 - width / 2
  margin_y = max(FRAME_HEIGHT / 2 - height / 2, 0)
  return _Face(
      cx=FRAME_WIDTH / 2 + rng.uniform(-0.9, 0.9) * margin_x,
      cy=FRAME_HEIGHT / 2 + rng.uniform(-0.8, 0.8) * margin_y,
      height=height, width=width, skin=skin, hair=hair,
      sway_px=rng.uniform(0.5, 2.5), sway_hz=rng.uniform(0.2, 0.8),
      sway_phase=rng.uniform(0, 2 * np.pi))


def _draw_face(img: np.ndarray, face: _Face, t_s: float, mouth_open: float, squeeze: float,
               blink: bool, smile: float = 0.0) -> None:
  """Draws a face; mouth_open and squeeze in 0..1 (1 = wide open / eyes shut tight)."""
  cx = face.cx + face.sway_px * math.sin(2 * np.pi * face.sway_hz * t_s + face.sway_phase)
  cy = face.cy + 0.5 * face.sway_px * math.cos(2 * np.pi * face.sway_hz * 0.7 * t_s)
  h, w = face.height, face.width
  if face.hair is not None:
    cv2.ellipse(img, (int(cx), int(cy - 0.12 * h)), (int(0.54 * w), int(0.45 * h)), 0, 180, 360,
                face.hair, -1, cv2.LINE_AA)
  cv2.ellipse(img, (int(cx), int(cy)), (int(w / 2), int(h / 2)), 0, 0, 360, face.skin, -1,
              cv2.LINE_AA)
  dark = tuple(0.35 * c for c in face.skin)
  eye_y = cy - 0.1 * h
  eye_w, eye_h = 0.1 * w, 0.055 * h
  thick = max(int(round(0.025 * h)), 1)
  for side in (-1, 1):
    ex = cx + side * 0.22 * w
    if squeeze > 0.3 or blink:
      # Shut eyes: a crease, curved down; tighter squeeze gives a deeper crease.
      cv2.ellipse(img, (int(ex), int(eye_y)), (int(eye_w), int(eye_h * (0.4 + squeeze))),
                  0, 200, 340, dark, thick + int(squeeze > 0.6), cv2.LINE_AA)
    else:
      cv2.ellipse(img, (int(ex), int(eye_y)), (int(eye_w), int(eye_h)), 0, 0, 360,
                  (235, 235, 235), -1, cv2.LINE_AA)
      cv2.circle(img, (int(ex), int(eye_y)), max(int(eye_h * 0.9), 1), (40, 30, 20), -1,
                 cv2.LINE_AA)
    # Brows: inner ends rise when the face is squeezed (crying or laughing hard).
    inner_dy = -0.05 * h * squeeze
    cv2.line(img, (int(ex - side * 0.12 * w), int(eye_y - 0.11 * h + inner_dy)),
             (int(ex + side * 0.1 * w), int(eye_y - 0.12 * h)), dark, thick, cv2.LINE_AA)
  cv2.ellipse(img, (int(cx), int(cy + 0.05 * h)), (max(int(0.05 * w), 1), max(int(0.04 * h), 1)),
              0, 0, 360, tuple(0.8 * c for c in face.skin), -1, cv2.LINE_AA)
  mouth_y = cy + 0.27 * h
  mouth_w = (0.16 + 0.1 * mouth_open) * w
  mouth_h = 0.2 * h * mouth_open
  if mouth_h >= 1.5:
    cv2.ellipse(img, (int(cx), int(mouth_y)), (int(mouth_w), int(mouth_h)), 0, 0, 360,
                (25, 20, 60), -1, cv2.LINE_AA)
    cv2.ellipse(img, (int(cx), int(mouth_y)), (int(mouth_w), int(mouth_h)), 0, 0, 360,
                (70, 70, 160), max(thick // 2, 1), cv2.LINE_AA)
  else:
    cv2.ellipse(img, (int(cx), int(mouth_y - 0.04 * h * smile)),
                (int(mouth_w), max(int(0.06 * h * smile), 1)), 0, 10, 170, (60, 60, 140),
                thick, cv2.LINE_AA)


def _blink_track(rng: np.random.Generator, frame_t: np.ndarray) -> np.ndarray:
  """True on frames where the eyes are closed in a blink (every 2-5 s, 0.15 s)."""
  blinks = np.zeros(frame_t.size, bool)
  t = rng.uniform(0, 3)
  while t < CLIP_S:
    blinks |= (frame_t >= t) & (frame_t < t + 0.15)
    t += rng.uniform(2.0, 5.0)
  return blinks


def _render(frame_t: np.ndarray, bg: np.ndarray, draw: Callable[[np.ndarray, int, float], None],
            rng: np.random.Generator, dark: bool) -> np.ndarray:
  """Draws every frame over the background, then lighting and sensor noise."""
  if dark:
    # Night room: little light, flat contrast, strong sensor noise.
    gain = rng.uniform(0.05, 0.12) * (
        1.0 + 0.05 * np.sin(2 * np.pi * rng.uniform(0.2, 1.0) * frame_t))
    offset = rng.uniform(3, 10)
    noise_sigma = rng.uniform(3.0, 6.0)
  else:
    gain = rng.uniform(0.85, 1.1) * (
        1.0 + 0.03 * np.sin(2 * np.pi * rng.uniform(0.05, 0.3) * frame_t))
    offset = 0.0
    noise_sigma = rng.uniform(0.5, 2.5)
  # A small bank of gray noise frames, picked at random per frame, is far
  # cheaper than fresh noise and looks the same after encoding.
  bank = np.repeat(np.round(noise_sigma * rng.standard_normal(
      (8, FRAME_HEIGHT, FRAME_WIDTH, 1))).astype(np.int16), 3, axis=3)
  picks = rng.integers(0, len(bank), size=frame_t.size)
  background = bg.astype(np.uint8)
  frames = np.empty((frame_t.size, FRAME_HEIGHT, FRAME_WIDTH, 3), np.uint8)
  for i, t_s in enumerate(frame_t):
    img = background.copy()
    draw(img, i, float(t_s))
    lit = cv2.convertScaleAbs(img, alpha=float(gain[i]), beta=offset)
    frames[i] = np.clip(lit.astype(np.int16) + bank[picks[i]], 0, 255)
  return frames


# ----------------------------------------------------------------------------
# One clip: scene kind -> (frames, frame rate, audio).
# ----------------------------------------------------------------------------

@dataclasses.dataclass
class RenderedClip:
  frames: np.ndarray          # uint8 [num_frames, FRAME_HEIGHT, FRAME_WIDTH, 3], BGR
  frame_rate: fractions.Fraction
  audio: np.ndarray           # float32 [CLIP_S * SAMPLE_RATE_HZ], mono, in -1..1


def _mix(foreground: np.ndarray | None, noise: np.ndarray, fg_db: float,
         noise_db: float) -> np.ndarray:
  out = _db(noise_db) * noise
  if foreground is not None:
    out = out + _db(fg_db) * foreground
  peak = np.max(np.abs(out))
  if peak > 0.98:  # keep loud mixes from clipping
    out *= 0.98 / peak
  return out.astype(np.float32)


def _face_scene(rng, frame_t, mouth_env, mode: str, dark: bool) -> np.ndarray:
  """mode: cry_like (crying or laughing look), talk, or calm."""
  bg = _background(rng)
  face = _random_face(rng)
  blinks = _blink_track(rng, frame_t)
  smile = rng.uniform(0, 1)
  extras = _random_shapes(rng, int(rng.integers(0, 3)), 0.0)
  # Objects in the scene stay clear of the face (drawn first, face on top).

  def draw(img, i, t_s):
    _draw_shapes(img, extras, t_s)
    m = float(mouth_env[i])
    if mode == "cry_like":
      _draw_face(img, face, t_s, mouth_open=0.15 + 0.85 * m, squeeze=0.45 + 0.55 * m,
                 blink=False)
    elif mode == "talk":
      _draw_face(img, face, t_s, mouth_open=0.35 * m, squeeze=0.0, blink=bool(blinks[i]))
    else:
      _draw_face(img, face, t_s, mouth_open=0.0, squeeze=0.0, blink=bool(blinks[i]),
                 smile=smile)
  return _render(frame_t, bg, draw, rng, dark)


def _objects_scene(rng, frame_t, speed: float, pulse: np.ndarray | None,
                   dark: bool) -> np.ndarray:
  bg = _background(rng)
  shapes = _random_shapes(rng, int(rng.integers(2, 6)), speed)

  def draw(img, i, t_s):
    _draw_shapes(img, shapes, t_s, 1.0 if pulse is None else 1.0 + 0.3 * float(pulse[i]))
  return _render(frame_t, bg, draw, rng, dark)


def _device_scene(rng, frame_t, audio_env: np.ndarray) -> np.ndarray:
  """A TV or a loudspeaker on a shelf, the sound's source."""
  bg = _background(rng)
  is_tv = rng.random() < 0.5
  w = rng.uniform(0.35, 0.6) * FRAME_WIDTH
  h = w * (0.7 if is_tv else rng.uniform(1.1, 1.5))
  h = min(h, 0.9 * FRAME_HEIGHT)
  x0 = rng.uniform(2, FRAME_WIDTH - w - 2)
  y0 = rng.uniform(2, FRAME_HEIGHT - h - 2)
  case = tuple(float(c) for c in rng.uniform(10, 80, 3))
  screen = rng.uniform(60, 220, 3)
  extras = _random_shapes(rng, int(rng.integers(0, 3)), 0.0)

  def draw(img, i, t_s):
    _draw_shapes(img, extras, t_s)
    cv2.rectangle(img, (int(x0), int(y0)), (int(x0 + w), int(y0 + h)), case, -1)
    if is_tv:
      # The picture changes in cuts every ~second, like a programme.
      shade = screen * (0.6 + 0.4 * math.sin(1.3 * math.floor(t_s * 1.1) + 0.7))
      cv2.rectangle(img, (int(x0 + 0.08 * w), int(y0 + 0.1 * h)),
                    (int(x0 + 0.92 * w), int(y0 + 0.85 * h)), tuple(float(c) for c in shade), -1)
    else:
      r = 0.3 * w * (1.0 + 0.06 * float(audio_env[i]))  # the cone moves with the sound
      for cy, rr in ((y0 + 0.33 * h, r), (y0 + 0.75 * h, 0.6 * r)):
        cv2.circle(img, (int(x0 + w / 2), int(cy)), int(rr), (20, 20, 20), -1, cv2.LINE_AA)
        cv2.circle(img, (int(x0 + w / 2), int(cy)), max(int(0.3 * rr), 1), (90, 90, 90), -1,
                   cv2.LINE_AA)
  return _render(frame_t, bg, draw, rng, False)


def render_clip(seed: int, index: int, kind: str) -> RenderedClip:
  """Renders clip `index` of the dataset made from `seed`; pure function of its inputs."""
  if kind not in KINDS:
    raise ValueError(f"unknown scene kind {kind!r}; choose one of {sorted(KINDS)}")
  rng = np.random.default_rng([seed, index, GENERATOR_VERSION])
  frame_rate = FRAME_RATES[rng.choice(len(FRAME_RATES), p=FRAME_RATE_PROBS)]
  num_frames = int(round(CLIP_S * frame_rate))
  frame_t = np.arange(num_frames) / float(frame_rate)
  fg_db = rng.uniform(-30.0, -14.0)
  quiet_noise = room_noise(rng, loud=False)
  quiet_db = fg_db - rng.uniform(8.0, 30.0)  # ordinary scenes: SNR 8-30 dB

  def cry():
    bursts = _burst_schedule(rng)
    return cry_audio(rng, bursts), burst_envelope(frame_t, bursts)

  def laugh():
    bursts = _burst_schedule(rng, gap_s=(0.25, 0.6))
    return laugh_audio(rng, bursts), burst_envelope(frame_t, bursts)

  def speech():
    audio, syllables = speech_audio(rng)
    return audio, burst_envelope(frame_t, syllables, 0.025, 0.04)

  if kind == "cry_face":
    audio, env = cry()
    frames = _face_scene(rng, frame_t, env, "cry_like", dark=False)
    mix = _mix(audio, quiet_noise, fg_db, quiet_db)
  elif kind == "drowned_cry":
    audio, env = cry()
    frames = _face_scene(rng, frame_t, env, "cry_like", dark=False)
    noise_db = rng.uniform(-18.0, -10.0)
    mix = _mix(audio, room_noise(rng, loud=True), noise_db - rng.uniform(12.0, 20.0), noise_db)
  elif kind == "dark_cry":
    audio, env = cry()
    frames = _face_scene(rng, frame_t, env, "cry_like", dark=True)
    mix = _mix(audio, quiet_noise, fg_db, quiet_db)
  elif kind == "loudspeaker_cry":
    audio, env = cry()
    scene = rng.choice(["device", "calm_face", "objects"], p=[0.5, 0.3, 0.2])
    if scene == "device":
      frames = _device_scene(rng, frame_t, env)
    elif scene == "calm_face":
      frames = _face_scene(rng, frame_t, env, "calm", dark=False)
    else:
      frames = _objects_scene(rng, frame_t, rng.uniform(0, 6), None, dark=False)
    mix = _mix(audio, quiet_noise, fg_db, quiet_db)
  elif kind == "laughing_face":
    audio, env = laugh()
    frames = _face_scene(rng, frame_t, env, "cry_like", dark=False)
    mix = _mix(audio, quiet_noise, fg_db, quiet_db)
  elif kind == "dark_other":
    scene = rng.choice(["laugh", "talk", "music", "quiet"], p=[0.6, 0.2, 0.1, 0.1])
    if scene == "laugh":
      audio, env = laugh()
      frames = _face_scene(rng, frame_t, env, "cry_like", dark=True)
    elif scene == "talk":
      audio, env = speech()
      frames = _face_scene(rng, frame_t, env, "talk", dark=True)
    elif scene == "music":
      audio, beat_s = music_audio(rng)
      pulse = np.exp(-np.mod(frame_t, beat_s) / 0.15)
      frames = _objects_scene(rng, frame_t, rng.uniform(10, 40), pulse, dark=True)
    else:
      audio = None
      frames = _objects_scene(rng, frame_t, rng.uniform(0, 4), None, dark=True)
    mix = _mix(audio, quiet_noise, fg_db, quiet_db)
  elif kind == "noisy_room":
    if rng.random() < 0.5:
      frames = _face_scene(rng, frame_t, np.zeros(num_frames), "calm", dark=False)
    else:
      frames = _objects_scene(rng, frame_t, rng.uniform(0, 6), None, dark=False)
    mix = _mix(None, room_noise(rng, loud=True), 0.0, rng.uniform(-18.0, -10.0))
  elif kind == "talking_face":
    audio, env = speech()
    frames = _face_scene(rng, frame_t, env, "talk", dark=False)
    mix = _mix(audio, quiet_noise, fg_db, quiet_db)
  elif kind == "music":
    audio, beat_s = music_audio(rng)
    pulse = np.exp(-np.mod(frame_t, beat_s) / 0.15)
    frames = _objects_scene(rng, frame_t, rng.uniform(15, 60), pulse, dark=False)
    mix = _mix(audio, quiet_noise, fg_db, quiet_db)
  else:  # quiet_room
    frames = _objects_scene(rng, frame_t, rng.uniform(0, 4), None, dark=False)
    mix = _mix(None, quiet_noise, 0.0, rng.uniform(-55.0, -40.0))
  return RenderedClip(frames, frame_rate, mix)


# ----------------------------------------------------------------------------
# Encoding.
# ----------------------------------------------------------------------------

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


# ----------------------------------------------------------------------------
# The dataset.
# ----------------------------------------------------------------------------

def plan_clips(num_clips: int, seed: int) -> list[dict]:
  """Which kind, label, name and container each clip gets (no media rendered)."""
  if num_clips < 1:
    raise ValueError(f"num_clips must be at least 1, got {num_clips}")
  shares = np.array([share for _, share in KINDS.values()])
  exact = shares * num_clips
  counts = np.floor(exact).astype(int)
  # Largest remainders get the clips left over, so shares hold for any count.
  for k in np.argsort(-(exact - counts), kind="stable")[:num_clips - counts.sum()]:
    counts[k] += 1
  kinds = np.repeat(np.array(list(KINDS)), counts)
  rng = np.random.default_rng([seed, GENERATOR_VERSION])
  kinds = kinds[rng.permutation(num_clips)]
  avi = np.zeros(num_clips, bool)
  avi[rng.choice(num_clips, size=int(round(AVI_SHARE * num_clips)), replace=False)] = True
  plan = []
  for index, kind in enumerate(kinds):
    name = f"s{seed}_{index:04d}"
    label = KINDS[str(kind)][0]
    plan.append(dict(index=index, name=name, kind=str(kind), label=label,
                     path=f"{label}/{name}.{'avi' if avi[index] else 'mp4'}"))
  return plan


def _make_clip(root: str, seed: int, item: dict) -> str:
  clip = render_clip(seed, item["index"], item["kind"])
  encode_clip(os.path.join(root, item["path"]), clip)
  return item["path"]


def read_manifest(output_dir: str) -> list[dict]:
  """The manifest rows of a finished dataset: dicts with path, label, group, kind."""
  with open(os.path.join(output_dir, MANIFEST_NAME), newline="") as f:
    return [dict(row) for row in csv.DictReader(f)]


def _params(num_clips: int, seed: int) -> dict:
  return dict(num_clips=num_clips, seed=seed, version=GENERATOR_VERSION)


def _existing(output_dir: str, num_clips: int, seed: int) -> list[dict]:
  params_path = os.path.join(output_dir, PARAMS_NAME)
  if not os.path.isfile(params_path) or not os.path.isfile(
      os.path.join(output_dir, MANIFEST_NAME)):
    raise FileExistsError(
        f"{output_dir} exists but is not a finished embedded default dataset (no "
        f"{MANIFEST_NAME}/{PARAMS_NAME}); remove it or choose another output directory")
  with open(params_path) as f:
    found = json.load(f)
  if found != _params(num_clips, seed):
    raise FileExistsError(f"{output_dir} holds an embedded default dataset made with {found}, "
                          f"not {_params(num_clips, seed)}; remove it or choose another directory")
  rows = read_manifest(output_dir)
  missing = [r["path"] for r in rows if not os.path.isfile(os.path.join(output_dir, r["path"]))]
  if missing:
    raise FileNotFoundError(f"{output_dir} lacks {len(missing)} listed clips, e.g. {missing[0]}")
  return rows


def generate(output_dir: str, num_clips: int = 600, seed: int = 0, workers: int = 2,
             progress: bool = True) -> list[dict]:
  """Writes the embedded default dataset to output_dir and returns its manifest rows.

  Clips are rendered in a temporary sibling directory that is renamed to
  output_dir only once every file and the manifest are written. An existing,
  finished output_dir made with the same parameters is returned as is.

  Returns:
    one dict per clip: path (relative to output_dir), label, group, kind.
  """
  output_dir = os.path.abspath(output_dir)
  if os.path.exists(output_dir):
    return _existing(output_dir, num_clips, seed)
  plan = plan_clips(num_clips, seed)
  parent = os.path.dirname(output_dir)
  os.makedirs(parent, exist_ok=True)
  tmp = tempfile.mkdtemp(prefix=os.path.basename(output_dir) + ".partial-", dir=parent)
  try:
    for label in ("crying", "not_crying"):
      os.makedirs(os.path.join(tmp, label))
    started = time.monotonic()
    report_every = max(1, num_clips // 10)

    def report(done: int) -> None:
      if progress and (done % report_every == 0 or done == num_clips):
        print(f"embedded_default: {done}/{num_clips} clips ({time.monotonic() - started:.1f} s)",
              file=sys.stderr, flush=True)

    if workers <= 1:
      for done, item in enumerate(plan, 1):
        _make_clip(tmp, seed, item)
        report(done)
    else:
      # Spawned workers: safe even when the caller already started JAX threads.
      context = multiprocessing.get_context("spawn")
      with concurrent.futures.ProcessPoolExecutor(min(workers, num_clips),
                                                  mp_context=context) as pool:
        futures = [pool.submit(_make_clip, tmp, seed, item) for item in plan]
        for done, future in enumerate(concurrent.futures.as_completed(futures), 1):
          future.result()
          report(done)
    rows = [dict(path=p["path"], label=p["label"], group=p["name"], kind=p["kind"])
            for p in plan]
    with open(os.path.join(tmp, MANIFEST_NAME), "w", newline="") as f:
      writer = csv.DictWriter(f, fieldnames=MANIFEST_COLUMNS)
      writer.writeheader()
      writer.writerows(rows)
    with open(os.path.join(tmp, PARAMS_NAME), "w") as f:
      json.dump(_params(num_clips, seed), f)
    try:
      os.rename(tmp, output_dir)
    except OSError:
      if not os.path.isdir(output_dir):
        raise
      # Another process finished the same dataset first: use theirs.
      shutil.rmtree(tmp, ignore_errors=True)
      return _existing(output_dir, num_clips, seed)
    return rows
  except BaseException:
    shutil.rmtree(tmp, ignore_errors=True)
    raise


# ----------------------------------------------------------------------------
# The embedded default dataset, as the main command uses it.
# ----------------------------------------------------------------------------

DATASET_DIR = "data/embedded_default"     # relative to the current directory
MEDIA_DIR = "data/embedded_default_media"
NUM_CLIPS = 600
SEED = 0


def is_default_dataset(dataset_dir: str) -> bool:
  """True when `dataset_dir` is the embedded default's own dataset path."""
  return os.path.abspath(dataset_dir) == os.path.abspath(DATASET_DIR)


def build_dataset(dataset_dir: str = DATASET_DIR, media_dir: str = MEDIA_DIR,
                  num_clips: int = NUM_CLIPS, seed: int = SEED) -> dict:
  """Renders the embedded default media into media_dir, then runs the Beam job into dataset_dir.

  Returns the Beam job's summary (see preprocess.pipeline.build_dataset).
  """
  from babycry_jax.data import schema
  from preprocess import pipeline
  generate(media_dir, num_clips=num_clips, seed=seed)
  return pipeline.build_dataset(media_dir, dataset_dir, schema.preset("paper"))
