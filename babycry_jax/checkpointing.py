"""Orbax checkpoints of a run: the latest N and the best by validation F1.

A checkpoint holds the train state (parameters, optimizer state, BatchNorm
statistics, RNG key) and a JSON item with the input position, the step's
validation metrics and the config. Orbax writes each step to a temporary name
and renames it when complete, so an interrupted save never looks finished.
"""
from __future__ import annotations

from typing import Any

import orbax.checkpoint as ocp
from orbax.checkpoint.checkpoint_managers import preservation_policy

from babycry_jax.data import storage

BEST_METRIC = "val_f1"


class Checkpointer:

  def __init__(self, workdir: str, keep_latest: int = 2, async_save: bool = True,
               read_only: bool = False):
    self.directory = storage.join(storage.absolute(workdir), "checkpoints")
    policy = preservation_policy.AnyPreservationPolicy([
        preservation_policy.LatestN(keep_latest),
        preservation_policy.BestN(get_metric_fn=lambda m: m[BEST_METRIC], n=1,
                                  keep_checkpoints_without_metrics=False),
    ])
    options = ocp.CheckpointManagerOptions(
        preservation_policy=policy, enable_async_checkpointing=async_save,
        create=not read_only, read_only=read_only)
    self.manager = ocp.CheckpointManager(self.directory, options=options)

  def save(self, step: int, state: Any, meta: dict, val_f1: float | None = None) -> None:
    """Starts saving (asynchronously); `meta` must be JSON-serialisable."""
    metrics = None if val_f1 is None else {BEST_METRIC: float(val_f1)}
    self.manager.save(step, args=ocp.args.Composite(
        state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)),
        metrics=metrics, force=True)

  def wait(self) -> None:
    self.manager.wait_until_finished()

  def steps(self) -> list[int]:
    return list(self.manager.all_steps())

  def latest_step(self) -> int | None:
    return self.manager.latest_step()

  def read_meta(self, step: int) -> dict:
    return self.manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"]

  def best_step(self) -> int | None:
    """The kept step with the highest validation F1 (latest wins ties)."""
    best, best_f1 = None, float("-inf")
    for step in sorted(self.steps()):
      f1 = self.read_meta(step).get("metrics", {}).get(BEST_METRIC)
      if f1 is not None and f1 >= best_f1:
        best, best_f1 = step, f1
    return best

  def resolve(self, which: str) -> int:
    """'best' | 'latest' | a step number -> a step that exists."""
    steps = self.steps()
    if not steps:
      raise FileNotFoundError(f"no checkpoints in {self.directory}")
    if which == "latest":
      return self.latest_step()
    if which == "best":
      step = self.best_step()
      return step if step is not None else self.latest_step()
    if not which.isdigit() or int(which) not in steps:
      raise ValueError(f"checkpoint {which!r} not found in {self.directory}; "
                       f"choose best, latest or one of steps {sorted(steps)}")
    return int(which)

  def restore(self, step: int, target: Any) -> tuple[Any, dict]:
    """(state shaped like `target`, meta) of a step."""
    out = self.manager.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(target), meta=ocp.args.JsonRestore()))
    return out["state"], out["meta"]

  def close(self) -> None:
    self.manager.wait_until_finished()
    self.manager.close()
