"""Train-split normalisation statistics, summed exactly so that no order can change them.

Every record contributes integer sums: a float16 log-mel value is a whole
number of 2**-24, a float32 MFCC statistic a whole number of 2**-149, a pixel
a whole number; squares are whole numbers of the squared units. Integers add
exactly in any order, so the mean and std are the same bytes whatever bundles,
workers or runner combined them.
"""
from __future__ import annotations

import math
from fractions import Fraction
from typing import Any, Mapping

import apache_beam as beam
import numpy as np

from babycry_jax.data import schema

_LOG_MEL_EXP = 24   # every float16 is a multiple of 2**-24
_MFCC_EXP = 149     # every float32 is a multiple of 2**-149
_HALF_BITS = 20     # |value| < 2**40 units: halves of 20 bits keep squares inside int64


def _float16_sums(values: np.ndarray) -> list[int]:
  """[count, sum, sum of squares] of float16 values, in units of 2**-24 and 2**-48."""
  units = (values.astype(np.float64) * 2.0 ** _LOG_MEL_EXP).astype(np.int64).ravel()
  # units * units overflows int64; with units = high * 2**20 + low the three products do not.
  high, low = np.divmod(units, 1 << _HALF_BITS)
  squares = ((int(np.sum(high * high)) << (2 * _HALF_BITS)) + (int(np.sum(high * low)) << (_HALF_BITS + 1))
             + int(np.sum(low * low)))
  return [int(units.size), int(np.sum(units)), squares]


def _float32_units(value: float) -> int:
  numerator, denominator = float(value).as_integer_ratio()   # denominator: a power of two
  return numerator << (_MFCC_EXP - (denominator.bit_length() - 1))


def record_stats(features: Mapping[str, Any]) -> dict[str, list]:
  """A record's exact partial sums, for the tracks it has.

  Args:
    features: a window's features (schema.WINDOW_FEATURES).
  Returns:
    {"log_mel": [count, sum, sum_sq], "mfcc": [1, [sum per dim], [sum_sq per dim]],
     "frames": [count, sum, sum_sq]}, absent tracks left out; all integers.
  Raises:
    ValueError: a feature holds a NaN or an infinity.
  """
  sums: dict[str, list] = {}
  if bool(features[schema.HAS_AUDIO]):
    log_mel = np.asarray(features[schema.LOG_MEL], np.float16)
    mfcc = np.asarray(features[schema.MFCC_STATS], np.float32)
    if not (np.isfinite(log_mel).all() and np.isfinite(mfcc).all()):
      raise ValueError("audio features hold a NaN or an infinity")
    sums["log_mel"] = _float16_sums(log_mel)
    units = [_float32_units(v) for v in mfcc.tolist()]
    sums["mfcc"] = [1, units, [u * u for u in units]]
  if bool(features[schema.HAS_VIDEO]):
    frames = np.asarray(features[schema.FRAMES], np.int64).ravel()
    sums["frames"] = [int(frames.size), int(frames.sum()), int(np.dot(frames, frames))]
  return sums


def _add(total: list, part: list) -> list:
  if not total:
    return [list(v) if isinstance(v, list) else v for v in part]
  return [[a + b for a, b in zip(t, p)] if isinstance(t, list) else t + p for t, p in zip(total, part)]


def _mean_std(count: int, total: int, squares: int, exponent: int) -> tuple[float, float]:
  mean = Fraction(total, count << exponent)
  variance = Fraction(squares, count << (2 * exponent)) - mean * mean
  return float(mean), math.sqrt(float(variance))


class FeatureStatsFn(beam.CombineFn):
  """record_stats partials -> {feature: {"mean", "std"}} (metadata.json's "stats").

  A feature whose track no record has gets mean 0 and std 1, so normalising
  with it changes nothing.
  """

  def __init__(self, mfcc_stats_dim: int):
    self._mfcc_stats_dim = mfcc_stats_dim

  def create_accumulator(self) -> dict[str, list]:
    return {}

  def add_input(self, accumulator: dict[str, list], sums: Mapping[str, list]) -> dict[str, list]:
    for name, part in sums.items():
      accumulator[name] = _add(accumulator.get(name, []), part)
    return accumulator

  def merge_accumulators(self, accumulators) -> dict[str, list]:
    merged: dict[str, list] = {}
    for accumulator in accumulators:
      self.add_input(merged, accumulator)
    return merged

  def extract_output(self, accumulator: Mapping[str, list]) -> dict[str, Any]:
    stats: dict[str, Any] = {}
    for key, name, exponent in ((schema.LOG_MEL, "log_mel", _LOG_MEL_EXP), (schema.FRAMES, "frames", 0)):
      if name in accumulator:
        mean, std = _mean_std(*accumulator[name], exponent)
        stats[key] = {"mean": mean, "std": std}
      else:
        stats[key] = {"mean": 0.0, "std": 1.0}
    if "mfcc" in accumulator:
      count, totals, squares = accumulator["mfcc"]
      pairs = [_mean_std(count, t, s, _MFCC_EXP) for t, s in zip(totals, squares)]
      stats[schema.MFCC_STATS] = {"mean": [m for m, _ in pairs], "std": [s for _, s in pairs]}
    else:
      stats[schema.MFCC_STATS] = {"mean": [0.0] * self._mfcc_stats_dim, "std": [1.0] * self._mfcc_stats_dim}
    return stats
