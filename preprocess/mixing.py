"""An event mixed into a real background recording at a chosen signal-to-noise ratio.

How the DCASE 2017 task 2 baby-cry data was made: isolated events placed at a
random time in real background recordings, scaled to a given event-to-background
ratio. Here the ratio is a power ratio over the samples the event covers:

  snr_db = 10 log10( mean(event'^2) / mean(background[span]^2) )

with event' the scaled event and span the samples it lies on, so an event that
covers part of the mixture is judged against the background it actually masks.
Everything random (background excerpt, event position) comes from one seed.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from babycry_jax.data import media_windows

# Below this mean power (about -120 dB re full scale) a signal counts as silence.
_SILENCE_POWER = 1e-12


@dataclasses.dataclass(frozen=True)
class Mixture:
  """audio float32 [length]; the event lies on audio[event_start:event_start + event_length]."""
  audio: np.ndarray
  snr_db: float
  event_gain: float
  event_start: int
  event_length: int
  background_start: int


def power_db_ratio(signal: np.ndarray, noise: np.ndarray) -> float:
  """10 log10 of the mean power of signal over that of noise (same-length arrays)."""
  return float(10.0 * np.log10(np.mean(np.square(signal, dtype=np.float64))
                               / np.mean(np.square(noise, dtype=np.float64))))


def mix_at_snr(event: np.ndarray, background: np.ndarray, snr_db: float, seed: int,
               length: int | None = None) -> Mixture:
  """Places the event at a seeded random time in a seeded excerpt of the background.

  Args:
    event: float32 [n] mono, e.g. a cry.
    background: float32 [m] mono at the same rate; looped when shorter than length.
    snr_db: wanted event-to-background power ratio over the event's span.
    seed: picks the background excerpt and the event position.
    length: mixture length in samples (default n); an event longer than it is cut.

  Returns:
    Mixture with audio = background excerpt + gain * event (no clipping or
    normalisation: scale the whole mixture afterwards, which keeps the ratio).
  Raises:
    ValueError: silent or empty event or background, a non-finite snr_db, length < 1.
  """
  event = np.asarray(event, np.float32).reshape(-1)
  background = np.asarray(background, np.float32).reshape(-1)
  if len(event) == 0 or len(background) == 0:
    raise ValueError(f"event ({len(event)} samples) and background ({len(background)} samples) "
                     "must both hold audio")
  length = len(event) if length is None else int(length)
  if length < 1:
    raise ValueError(f"length must be at least 1 sample, got {length}")
  if not np.isfinite(snr_db):
    raise ValueError(f"snr_db must be a finite number, got {snr_db}")
  rng = np.random.default_rng(seed)
  event = event[:length]
  if len(background) < length:
    background = media_windows.loop_to_length(background, length)
  background_start = int(rng.integers(0, len(background) - length + 1))
  excerpt = background[background_start:background_start + length].astype(np.float32)
  event_start = int(rng.integers(0, length - len(event) + 1))
  span = slice(event_start, event_start + len(event))
  event_power = float(np.mean(np.square(event, dtype=np.float64)))
  noise_power = float(np.mean(np.square(excerpt[span], dtype=np.float64)))
  if event_power < _SILENCE_POWER or noise_power < _SILENCE_POWER:
    raise ValueError(f"cannot set an SNR against silence (event power {event_power:.3g}, "
                     f"background power {noise_power:.3g} over the event's span)")
  gain = float(np.sqrt(noise_power / event_power * 10.0 ** (snr_db / 10.0)))
  audio = excerpt.copy()
  audio[span] += np.float32(gain) * event
  return Mixture(audio=audio, snr_db=float(snr_db), event_gain=gain, event_start=event_start,
                 event_length=len(event), background_start=background_start)
