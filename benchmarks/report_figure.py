"""f1_vs_epoch.png of the reproduction report: every run's validation F1 per epoch."""
from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)

from babycry_jax.data import storage  # noqa: E402
from benchmarks.report_jobs import EMBEDDED  # noqa: E402


def plot_f1_vs_epoch(tables: dict, path: str) -> None:
  """PNG of validation F1 per epoch: one line per run, one panel per dataset."""
  panels = [(d, s) for d, s in tables.items() if any(r.get("val_curve") for r in s["rows"])]
  if not panels:
    panels = list(tables.items())[:1] or [(EMBEDDED, {"rows": []})]
  fig, axes = plt.subplots(1, len(panels), figsize=(7 * len(panels), 5), squeeze=False)
  colors = plt.get_cmap("tab20").colors   # 11 models: the default 10-colour cycle would repeat
  for ax, (dataset, section) in zip(axes[0], panels):
    for index, r in enumerate(section["rows"]):
      curve = r.get("val_curve") or []
      if curve:
        epochs, f1s = zip(*curve)
        ax.plot(epochs, f1s, marker="os^Dv"[index % 5], markersize=3.5, label=r["label"],
                color=colors[(2 * index) % 20 + (index >= 10)])
    ax.set_title(dataset.replace("_", " "))
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation F1")
    ax.set_ylim(0.0, 1.02)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
      ax.legend(fontsize=8, loc="lower right")
  fig.tight_layout()
  png = io.BytesIO()
  fig.savefig(png, format="png", dpi=110)
  plt.close(fig)
  storage.write_bytes(path, png.getvalue())
