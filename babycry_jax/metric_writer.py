"""Metrics of a run to the console, a JSONL file and TensorBoard (process 0 only)."""
from __future__ import annotations

import json
import os
import time

import jax

from babycry_jax.console import logger

log = logger()


class MetricWriter:

  def __init__(self, workdir: str):
    self.enabled = jax.process_index() == 0
    if not self.enabled:
      return
    os.makedirs(workdir, exist_ok=True)
    self._jsonl = open(os.path.join(workdir, "metrics.jsonl"), "a")
    from tensorboardX import SummaryWriter
    self._tb = SummaryWriter(os.path.join(workdir, "tensorboard"))

  def write(self, step: int, kind: str, metrics: dict, console: str | None = None) -> None:
    """Records scalar `metrics` of `kind` ('train' | 'val' | ...) at `step`."""
    if not self.enabled:
      return
    scalars = {k: float(v) for k, v in metrics.items()}
    self._jsonl.write(json.dumps({"step": int(step), "kind": kind, "time": time.time(), **scalars}) + "\n")
    self._jsonl.flush()
    for k, v in scalars.items():
      self._tb.add_scalar(f"{kind}/{k}", v, step)
    if console:
      log.info(console)

  def close(self) -> None:
    if self.enabled:
      self._jsonl.close()
      self._tb.close()
