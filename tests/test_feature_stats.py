"""The train statistics are exact: any order or grouping of the records gives the same bytes."""
import itertools
import json

import numpy as np
import pytest

from babycry_jax.data import schema
from preprocess import feature_stats


def _features(i: int) -> dict:
  rng = np.random.default_rng(i)
  return {schema.HAS_AUDIO: i != 4, schema.HAS_VIDEO: i % 3 != 0,
          schema.LOG_MEL: rng.normal(-40, 25, (50, 16)).astype(np.float16),
          schema.MFCC_STATS: (rng.normal(0, 1, 78) * 10.0 ** rng.integers(-6, 6, 78)).astype(np.float32),
          schema.FRAMES: rng.integers(0, 256, (3, 8, 8, 1), dtype=np.uint8)}


RECORDS = [_features(i) for i in range(7)]


def _combine(groups) -> str:
  fn = feature_stats.FeatureStatsFn(78)
  accumulators = []
  for group in groups:
    accumulator = fn.create_accumulator()
    for record in group:
      accumulator = fn.add_input(accumulator, feature_stats.record_stats(record))
    accumulators.append(accumulator)
  return json.dumps(fn.extract_output(fn.merge_accumulators(accumulators)))


def test_any_order_and_grouping_gives_identical_bytes():
  reference = _combine([RECORDS])
  for order in itertools.islice(itertools.permutations(RECORDS), 0, 5040, 997):
    order = list(order)
    assert _combine([order]) == reference
    assert _combine([order[:2], order[2:5], order[5:]]) == reference
    assert _combine([[r] for r in order] + [[]]) == reference


def test_values_are_the_mean_and_std_of_the_present_tracks():
  stats = json.loads(_combine([RECORDS]))
  audio = [r for r in RECORDS if r[schema.HAS_AUDIO]]
  mel = np.concatenate([r[schema.LOG_MEL].astype(np.float64).ravel() for r in audio])
  assert stats[schema.LOG_MEL]["mean"] == pytest.approx(mel.mean(), rel=1e-12)
  assert stats[schema.LOG_MEL]["std"] == pytest.approx(mel.std(), rel=1e-12)
  mfcc = np.stack([r[schema.MFCC_STATS].astype(np.float64) for r in audio])
  np.testing.assert_allclose(stats[schema.MFCC_STATS]["mean"], mfcc.mean(0), rtol=1e-12)
  np.testing.assert_allclose(stats[schema.MFCC_STATS]["std"], mfcc.std(0), rtol=1e-6)
  frames = np.concatenate([r[schema.FRAMES].astype(np.float64).ravel() for r in RECORDS if r[schema.HAS_VIDEO]])
  assert stats[schema.FRAMES]["mean"] == pytest.approx(frames.mean(), rel=1e-12)


def test_absent_tracks_normalise_to_identity_and_nan_is_refused():
  stats = json.loads(_combine([]))
  assert stats[schema.LOG_MEL] == {"mean": 0.0, "std": 1.0}
  assert stats[schema.MFCC_STATS] == {"mean": [0.0] * 78, "std": [1.0] * 78}
  bad = dict(RECORDS[1])
  bad[schema.LOG_MEL] = np.full((2, 2), np.nan, np.float16)
  with pytest.raises(ValueError, match="NaN"):
    feature_stats.record_stats(bad)
