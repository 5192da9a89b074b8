"""The reproduction report's files: table.md, results.json and f1_vs_epoch.png."""
from __future__ import annotations

import json
import os

from babycry_jax.data import storage
from benchmarks import report_figure, report_table


def write_outputs(results: dict, out_dir: str) -> dict[str, str]:
  """Writes table.md, results.json and f1_vs_epoch.png; returns their paths."""
  os.makedirs(out_dir, exist_ok=True)
  paths = {name: os.path.join(out_dir, name) for name in ("table.md", "results.json", "f1_vs_epoch.png")}
  slim = json.loads(json.dumps(results, default=float))
  for section in slim["tables"].values():
    for r in section["rows"]:
      r.pop("traceback", None)   # kept on the console; too long for the results file
  storage.write_text(paths["results.json"], json.dumps(slim, indent=2) + "\n")
  storage.write_text(paths["table.md"], report_table.render_markdown(results))
  report_figure.plot_f1_vs_epoch(results["tables"], paths["f1_vs_epoch.png"])
  return paths
