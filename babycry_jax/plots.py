"""PNG figures of evaluation and detection results (matplotlib, Agg, no pyplot state).

Every figure is drawn on its own `Figure` and written atomically, so a crash
never leaves a half-written PNG and threads never share pyplot's global figure.
"""
from __future__ import annotations

import io
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
from matplotlib.figure import Figure  # noqa: E402  (after the backend is chosen)
import numpy as np  # noqa: E402

from babycry_jax import metrics  # noqa: E402
from babycry_jax.data import storage

CRYING_COLOR = "tab:red"
NOT_CRYING_COLOR = "tab:blue"


def _png(fig: Figure, tight: bool = True) -> bytes:
  png = io.BytesIO()
  # A tight bounding box draws the figure twice; the timeline sets its margins instead.
  fig.savefig(png, format="png", dpi=100, bbox_inches="tight" if tight else None)
  return png.getvalue()


def _save(fig: Figure, path: str, tight: bool = True) -> str:
  storage.write_bytes(path, _png(fig, tight))
  return path


def _threshold_label(threshold: float, name: str) -> str:
  return f"{name} ({threshold:.3f})"


def roc_png(path: str, labels: np.ndarray, scores: np.ndarray,
            thresholds: dict[str, float]) -> str:
  """ROC curve with the operating points of `thresholds` ({name: threshold}) marked.

  Args:
    path: the PNG to write.
    labels: [N] 0/1 true labels.
    scores: [N] crying probabilities.
    thresholds: named decision thresholds to mark on the curve.
  """
  labels = np.asarray(labels).astype(bool)
  fig = Figure(figsize=(5, 5))
  ax = fig.add_subplot()
  fpr, tpr, _ = metrics.roc_curve(labels, scores)
  auc = metrics.roc_auc(labels, scores)
  ax.plot(fpr, tpr, color="black", label=f"ROC (AUC {auc:.3f})")
  ax.plot([0, 1], [0, 1], color="gray", linestyle=":", label="chance")
  for (name, threshold), marker in zip(thresholds.items(), "os^v"):
    pred = np.asarray(scores) >= threshold
    point_fpr = np.sum(pred & ~labels) / max(np.sum(~labels), 1)
    point_tpr = np.sum(pred & labels) / max(np.sum(labels), 1)
    ax.plot([point_fpr], [point_tpr], marker=marker, linestyle="none", markersize=8,
            label=_threshold_label(threshold, name))
  ax.set(xlabel="false positive rate", ylabel="true positive rate (recall)",
         xlim=(0, 1), ylim=(0, 1.02), title="ROC")
  ax.legend(loc="lower right", fontsize=8)
  ax.grid(alpha=0.3)
  return _save(fig, path)


def pr_png(path: str, labels: np.ndarray, scores: np.ndarray,
           thresholds: dict[str, float]) -> str:
  """Precision-recall curve (crying = positive) with `thresholds` marked."""
  labels = np.asarray(labels).astype(bool)
  fig = Figure(figsize=(5, 5))
  ax = fig.add_subplot()
  precision, recall, _ = metrics.precision_recall_curve(labels, scores)
  ap = metrics.pr_auc(labels, scores)
  ax.step(np.r_[0.0, recall], np.r_[precision[:1], precision], where="pre", color="black",
          label=f"PR (AP {ap:.3f})")
  ax.axhline(labels.mean() if labels.size else 0.0, color="gray", linestyle=":",
             label="chance (positive rate)")
  for (name, threshold), marker in zip(thresholds.items(), "os^v"):
    m = metrics.binary_metrics(labels, scores, threshold)
    ax.plot([m["recall"]], [m["precision"]], marker=marker, linestyle="none", markersize=8,
            label=_threshold_label(threshold, name))
  ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02),
         title="precision-recall")
  ax.legend(loc="lower left", fontsize=8)
  ax.grid(alpha=0.3)
  return _save(fig, path)


def confusion_png(path: str, matrices: dict[str, Sequence[Sequence[int]]],
                  class_names: Sequence[str]) -> str:
  """One confusion matrix panel per entry of `matrices` ({title: [[TN, FP], [FN, TP]]})."""
  fig = Figure(figsize=(5.2 * len(matrices), 4))
  fig.subplots_adjust(wspace=0.6)
  for i, (title, cm) in enumerate(matrices.items()):
    ax = fig.add_subplot(1, len(matrices), i + 1)
    cm = np.asarray(cm)
    ax.imshow(cm, cmap="Blues", vmin=0, vmax=max(int(cm.max()), 1))
    for (row, col), count in np.ndenumerate(cm):
      color = "white" if count > cm.max() / 2 else "black"
      ax.text(col, row, str(int(count)), ha="center", va="center", color=color, fontsize=14)
    ax.set_xticks(range(len(class_names)), [f"pred {n}" for n in class_names], fontsize=8)
    ax.set_yticks(range(len(class_names)), [f"true {n}" for n in class_names], fontsize=8)
    ax.set_title(title, fontsize=10)
  return _save(fig, path)


def score_histogram_png(path: str, labels: np.ndarray, scores: np.ndarray,
                        thresholds: dict[str, float]) -> str:
  """Histograms of the crying probability for each true class, thresholds as lines."""
  labels = np.asarray(labels).astype(bool)
  scores = np.asarray(scores)
  fig = Figure(figsize=(6, 4))
  ax = fig.add_subplot()
  bins = np.linspace(0, 1, 26)
  ax.hist(scores[~labels], bins=bins, alpha=0.6, color=NOT_CRYING_COLOR,
          label=f"not crying (n={int(np.sum(~labels))})")
  ax.hist(scores[labels], bins=bins, alpha=0.6, color=CRYING_COLOR,
          label=f"crying (n={int(np.sum(labels))})")
  for (name, threshold), style in zip(thresholds.items(), ["--", "-.", ":"]):
    ax.axvline(threshold, color="black", linestyle=style, label=_threshold_label(threshold, name))
  ax.set(xlabel="crying probability", ylabel="clips", xlim=(0, 1), title="score distribution")
  ax.legend(fontsize=8)
  return _save(fig, path)


def timeline_png(path: str, *args, **kwargs) -> str:
  """Writes timeline_figure(*args, **kwargs) to the PNG `path`."""
  return _save(timeline_figure(*args, **kwargs), path, tight=False)


def timeline_png_bytes(*args, **kwargs) -> bytes:
  """timeline_figure(*args, **kwargs) as PNG bytes (the live monitor's page)."""
  return _png(timeline_figure(*args, **kwargs), tight=False)


def timeline_figure(title: str, window_starts_s: np.ndarray, window_ends_s: np.ndarray,
                    probabilities: np.ndarray, segments: Sequence[tuple[float, float]],
                    threshold: float, duration_s: float, spectrogram: np.ndarray | None,
                    spectrogram_times_s: np.ndarray | None, spectrogram_note: str = "") -> Figure:
  """Crying probability over time with segments shaded, and a spectrogram strip below.

  Args:
    title: figure title (file name, model).
    window_starts_s, window_ends_s: [W] window bounds in seconds.
    probabilities: [W] crying probability per window.
    segments: (start_s, end_s) of each detected crying segment.
    threshold: the decision threshold, drawn as a line.
    duration_s: the media's length (x axis extent).
    spectrogram: [n_mels, T] log-mel (dB) columns, or None when there is no audio.
    spectrogram_times_s: [T] the time of each column.
    spectrogram_note: shown instead of the strip when `spectrogram` is None.
  """
  fig = Figure(figsize=(12, 5))
  grid = fig.add_gridspec(2, 1, height_ratios=[2, 1], hspace=0.08, left=0.06, right=0.98,
                          top=0.93, bottom=0.1)
  ax = fig.add_subplot(grid[0])
  strip = fig.add_subplot(grid[1], sharex=ax)
  xmax = max(float(duration_s), float(window_ends_s.max()) if len(window_ends_s) else 0.0, 1e-3)
  for start_s, end_s in segments:
    for a in (ax, strip):
      a.axvspan(start_s, end_s, color=CRYING_COLOR, alpha=0.18, linewidth=0)
  centers_s = (np.asarray(window_starts_s) + np.asarray(window_ends_s)) / 2
  ax.plot(centers_s, probabilities, color="black", marker="." if len(centers_s) < 200 else None,
          linewidth=1, label="crying probability (window centre)")
  ax.axhline(threshold, color=CRYING_COLOR, linestyle="--", linewidth=1,
             label=f"threshold {threshold:g}")
  ax.set(ylim=(-0.02, 1.02), ylabel="P(crying)", title=title)
  ax.legend(loc="upper right", fontsize=8)
  ax.grid(alpha=0.3)
  ax.tick_params(labelbottom=False)
  if spectrogram is not None and spectrogram.size:
    times = np.asarray(spectrogram_times_s, np.float64)
    step = float(np.median(np.diff(times))) if times.size > 1 else 1.0
    strip.imshow(spectrogram, aspect="auto", origin="lower", cmap="magma",
                 extent=(times[0], times[-1] + step, 0, spectrogram.shape[0]))
    strip.set_ylabel("mel band")
  else:
    strip.text(0.5, 0.5, spectrogram_note or "no audio", ha="center", va="center",
               transform=strip.transAxes)
    strip.set_yticks([])
  strip.set(xlim=(0, xmax), xlabel="time (s)")
  return fig
