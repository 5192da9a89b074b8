"""Metrics of a run to the console, a JSONL file and TensorBoard (process 0 only).

Locally the JSONL file is appended to; a bucket object cannot be appended, so
in a bucket the whole file is rewritten (at the logging cadence, a few KB).
"""
from __future__ import annotations

import json
import time

import jax

from babycry_jax.data import storage
from babycry_jax.console import logger

log = logger()


class MetricWriter:

  def __init__(self, workdir: str):
    self.enabled = jax.process_index() == 0
    if not self.enabled:
      return
    storage.makedirs(workdir)
    self._jsonl_path = storage.join(workdir, "metrics.jsonl")
    if storage.is_url(workdir):
      self._jsonl = None
      self._lines = (storage.read_text(self._jsonl_path).splitlines(keepends=True)
                     if storage.exists(self._jsonl_path) else [])
    else:
      self._jsonl = open(self._jsonl_path, "a")
    from tensorboardX import SummaryWriter
    self._tb = SummaryWriter(storage.join(workdir, "tensorboard"))

  def write(self, step: int, kind: str, metrics: dict, console: str | None = None) -> None:
    """Records scalar `metrics` of `kind` ('train' | 'val' | ...) at `step`."""
    if not self.enabled:
      return
    scalars = {k: float(v) for k, v in metrics.items()}
    line = json.dumps({"step": int(step), "kind": kind, "time": time.time(), **scalars}) + "\n"
    if self._jsonl is None:
      self._lines.append(line)
      storage.write_text(self._jsonl_path, "".join(self._lines))
    else:
      self._jsonl.write(line)
      self._jsonl.flush()
    for k, v in scalars.items():
      self._tb.add_scalar(f"{kind}/{k}", v, step)
    if console:
      log.info(console)

  def close(self) -> None:
    if self.enabled:
      if self._jsonl is not None:
        self._jsonl.close()
      self._tb.close()
