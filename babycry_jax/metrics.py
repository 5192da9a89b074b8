"""Binary classification metrics over a whole split (crying = positive class).

Computed on the host from every example's score, never averaged per batch.
"""
from __future__ import annotations

import numpy as np


def confusion_matrix(labels: np.ndarray, scores: np.ndarray, threshold: float = 0.5) -> np.ndarray:
  """[[TN, FP], [FN, TP]]: rows are true labels, columns predictions."""
  labels = np.asarray(labels).astype(bool)
  pred = np.asarray(scores) >= threshold
  return np.array([[np.sum(~labels & ~pred), np.sum(~labels & pred)],
                   [np.sum(labels & ~pred), np.sum(labels & pred)]], dtype=np.int64)


def roc_curve(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """(false positive rate, true positive rate, thresholds), thresholds descending."""
  labels = np.asarray(labels).astype(bool)
  scores = np.asarray(scores, np.float64)
  order = np.argsort(-scores, kind="stable")
  s, y = scores[order], labels[order]
  last_of_tie = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]
  tp = np.cumsum(y)[last_of_tie]
  fp = np.cumsum(~y)[last_of_tie]
  pos, neg = max(labels.sum(), 1), max((~labels).sum(), 1)
  return np.r_[0.0, fp / neg], np.r_[0.0, tp / pos], np.r_[np.inf, s[last_of_tie]]


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
  """Area under the ROC curve; ties count half. NaN when only one class is present."""
  labels = np.asarray(labels).astype(bool)
  if labels.all() or not labels.any():
    return float("nan")
  fpr, tpr, _ = roc_curve(labels, scores)
  return float(np.trapezoid(tpr, fpr))


def precision_recall_curve(labels: np.ndarray, scores: np.ndarray):
  """(precision, recall, thresholds) for every distinct score as threshold, descending."""
  labels = np.asarray(labels).astype(bool)
  scores = np.asarray(scores, np.float64)
  order = np.argsort(-scores, kind="stable")
  s, y = scores[order], labels[order]
  last_of_tie = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]
  tp = np.cumsum(y)[last_of_tie].astype(np.float64)
  predicted = last_of_tie + 1.0
  return tp / predicted, tp / max(labels.sum(), 1), s[last_of_tie]


def pr_auc(labels: np.ndarray, scores: np.ndarray) -> float:
  """Average precision: sum over thresholds of precision x recall increment."""
  labels = np.asarray(labels).astype(bool)
  if not labels.any():
    return float("nan")
  precision, recall, _ = precision_recall_curve(labels, scores)
  return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def best_f1_threshold(labels: np.ndarray, scores: np.ndarray) -> float:
  """The score threshold that maximises F1 (predict crying when score >= it)."""
  precision, recall, thresholds = precision_recall_curve(labels, scores)
  f1 = np.where(precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0)
  return float(thresholds[int(np.argmax(f1))]) if len(thresholds) else 0.5


def threshold_at_recall(labels: np.ndarray, scores: np.ndarray, recall: float) -> float:
  """The highest threshold at which at least `recall` of the positives score >= it.

  Args:
    labels: [N] 0/1; scores: [N]; recall: in (0, 1].
  """
  if not 0.0 < recall <= 1.0:
    raise ValueError(f"recall must be within (0, 1], got {recall}")
  positives = np.sort(np.asarray(scores, np.float64)[np.asarray(labels) == 1])
  if len(positives) == 0:
    raise ValueError("no positive example to measure recall on")
  return float(positives[len(positives) - int(np.ceil(recall * len(positives) - 1e-9))])


def binary_metrics(labels: np.ndarray, scores: np.ndarray, threshold: float = 0.5) -> dict:
  """accuracy, precision, recall, f1 at `threshold`; roc_auc, pr_auc; confusion matrix."""
  cm = confusion_matrix(labels, scores, threshold)
  (tn, fp), (fn, tp) = cm
  total = cm.sum()
  precision = tp / (tp + fp) if tp + fp else 0.0
  recall = tp / (tp + fn) if tp + fn else 0.0
  f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
  return {
      "num_examples": int(total),
      "threshold": float(threshold),
      "accuracy": float((tp + tn) / total) if total else float("nan"),
      "precision": float(precision),
      "recall": float(recall),
      "f1": float(f1),
      "roc_auc": roc_auc(labels, scores),
      "pr_auc": pr_auc(labels, scores),
      "confusion_matrix": cm.tolist(),
  }
