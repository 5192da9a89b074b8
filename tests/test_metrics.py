"""Metrics against values computed by hand and against scikit-learn."""
import numpy as np
import pytest
from sklearn import metrics as skm

from babycry_jax import metrics


def test_hand_computed_example():
  labels = np.array([1, 1, 1, 0, 0, 0, 0, 1])
  scores = np.array([0.9, 0.6, 0.4, 0.7, 0.2, 0.1, 0.55, 0.8])
  m = metrics.binary_metrics(labels, scores, 0.5)
  # predictions >= 0.5: 1 1 0 1 0 0 1 1 -> TP 3, FN 1, FP 2, TN 2
  assert m["confusion_matrix"] == [[2, 2], [1, 3]]
  assert m["accuracy"] == pytest.approx(5 / 8)
  assert m["precision"] == pytest.approx(3 / 5)
  assert m["recall"] == pytest.approx(3 / 4)
  assert m["f1"] == pytest.approx(2 * 0.6 * 0.75 / 1.35)
  # Positive/negative pairs ranked correctly: 13 of 16.
  assert m["roc_auc"] == pytest.approx(13 / 16)


def test_ties_count_half():
  assert metrics.roc_auc(np.array([0, 1]), np.array([0.5, 0.5])) == pytest.approx(0.5)


@pytest.mark.parametrize("seed", range(5))
def test_matches_sklearn(seed):
  rng = np.random.default_rng(seed)
  labels = rng.integers(0, 2, 200)
  scores = np.round(rng.random(200) * 0.6 + 0.3 * labels, 2)  # rounded: many ties
  m = metrics.binary_metrics(labels, scores, 0.5)
  pred = scores >= 0.5
  assert m["f1"] == pytest.approx(skm.f1_score(labels, pred))
  assert m["precision"] == pytest.approx(skm.precision_score(labels, pred))
  assert m["roc_auc"] == pytest.approx(skm.roc_auc_score(labels, scores))
  assert m["pr_auc"] == pytest.approx(skm.average_precision_score(labels, scores))
  assert m["confusion_matrix"] == skm.confusion_matrix(labels, pred).tolist()


def test_best_f1_threshold_maximises_f1():
  rng = np.random.default_rng(0)
  labels = rng.integers(0, 2, 100)
  scores = rng.random(100) * 0.5 + 0.4 * labels
  t = metrics.best_f1_threshold(labels, scores)
  best = metrics.binary_metrics(labels, scores, t)["f1"]
  for other in np.linspace(0, 1, 41):
    assert metrics.binary_metrics(labels, scores, other)["f1"] <= best + 1e-12


def test_single_class_auc_is_nan():
  assert np.isnan(metrics.roc_auc(np.ones(4), np.random.rand(4)))
