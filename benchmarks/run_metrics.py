"""What a run's metrics.jsonl tells the report: whether it finished, its curve and its speed."""
from __future__ import annotations

import json
import os
import statistics
from typing import Optional

from babycry_jax.data import schema


def read_metrics(workdir: str) -> list[dict]:
  """Rows of W/metrics.jsonl; a resumed run can repeat a step, the later row wins."""
  path = os.path.join(workdir, "metrics.jsonl")
  if not os.path.exists(path):
    return []
  by_key: dict[tuple[str, int], dict] = {}
  with open(path) as f:
    for line in f:
      line = line.strip()
      if not line:
        continue
      try:
        row = json.loads(line)
      except json.JSONDecodeError:
        continue   # a line cut by a kill
      by_key[(row["kind"], int(row["step"]))] = row
  return sorted(by_key.values(), key=lambda r: (r["step"], r["kind"]))


def steps_per_epoch(config) -> int:
  metadata = schema.read_metadata(config.dataset_dir)
  return metadata["splits"]["train"]["num_examples"] // config.batch_size


def is_finished(workdir: str, config) -> bool:
  """True when the workdir's metrics reach the config's last step with a validation."""
  try:
    total = int(config.num_epochs * steps_per_epoch(config))
  except FileNotFoundError:
    return False
  return any(r["kind"] == "val" and r["step"] >= total for r in read_metrics(workdir))


def val_curve(workdir: str, per_epoch_steps: int) -> list[tuple[float, float]]:
  """[(epoch, validation F1)] in step order."""
  return [(r["step"] / per_epoch_steps, float(r["f1"])) for r in read_metrics(workdir)
          if r["kind"] == "val" and "f1" in r]


def median_examples_per_s(workdir: str) -> Optional[float]:
  """Median train examples/s over the run's train rows (robust to the compile step)."""
  rates = [float(r["examples_per_s"]) for r in read_metrics(workdir)
           if r["kind"] == "train" and "examples_per_s" in r]
  return statistics.median(rates) if rates else None


def train_span_s(workdir: str) -> Optional[float]:
  """Seconds from the run's first logged row to its last."""
  times = [r["time"] for r in read_metrics(workdir) if "time" in r]
  return max(times) - min(times) if len(times) > 1 else None
