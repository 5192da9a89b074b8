"""Orbax checkpoints of a run: the latest N and the best by validation F1, each with a digest.

A checkpoint holds the train state (parameters, optimizer state, BatchNorm
statistics, RNG key) and a JSON item with the input position, the step's
validation metrics and the config. Orbax writes each step to a temporary name
and renames it when complete, so an interrupted save never looks finished.
Before that rename, the size and SHA-256 of every file of the step go into its
digest (checkpoint_digest), so a checkpoint cut short or altered later (a
power loss, a bad disk) is found before it is restored (`problem`): training
sets it aside and resumes from the one before, evaluation refuses it.
"""
from __future__ import annotations

from typing import Any

import jax
import orbax.checkpoint as ocp
from orbax.checkpoint.checkpoint_managers import preservation_policy

from babycry_jax import checkpoint_digest
from babycry_jax.data import storage

BEST_METRIC = "val_f1"
DAMAGED_DIR = "damaged_checkpoints"   # beside checkpoints/: steps set aside, kept for a look


class CheckpointWriteError(RuntimeError):
  """A checkpoint could not be written; the ones written before it are untouched."""


class DamagedCheckpoint(ValueError):
  """A checkpoint whose files differ from its digest (or cannot be read at all)."""

  def __init__(self, directory: str, step: int, problem: str, intact: list[int]):
    self.step, self.problem = step, problem
    others = (f"intact checkpoints: steps {', '.join(map(str, intact))} (pass --checkpoint N)"
              if intact else "no other checkpoint is intact")
    super().__init__(f"checkpoint at step {step} in {directory} is damaged ({problem}); {others}")


class Checkpointer:

  def __init__(self, workdir: str, keep_latest: int = 2, read_only: bool = False):
    self.workdir = storage.absolute(workdir)
    self.directory = storage.join(self.workdir, "checkpoints")
    policy = preservation_policy.AnyPreservationPolicy([
        preservation_policy.LatestN(keep_latest),
        preservation_policy.BestN(get_metric_fn=lambda m: m[BEST_METRIC], n=1,
                                  keep_checkpoints_without_metrics=False),
    ])
    self._saving: int | None = None   # the step whose save is in flight (or just finished)
    options = ocp.CheckpointManagerOptions(
        preservation_policy=policy, create=not read_only, read_only=read_only,
        async_options=ocp.AsyncOptions(post_finalization_callback=self._write_digest))
    self.manager = ocp.CheckpointManager(self.directory, options=options)
    self.committed: int | None = self.manager.latest_step()   # newest step known complete

  def _finished(self) -> None:
    """Waits for the save in flight; once it succeeded, its step is the newest complete one."""
    self.manager.wait_until_finished()
    if self._saving is not None:
      self.committed = self._saving

  def _write_digest(self) -> None:
    """Orbax calls this once a save's files are all written, before it makes the step visible."""
    # The next save waits for this one before it changes _saving: no lock needed.
    if self._saving is not None and jax.process_index() == 0:
      checkpoint_digest.write(checkpoint_digest.unfinished_folder(self.directory, self._saving))

  def _failed(self, error: Exception) -> CheckpointWriteError:
    step, self._saving = self._saving, None   # a failed step never counts as complete
    what = f"checkpoint at step {step}" if step is not None else "a checkpoint"
    detail = " ".join(str(error).split()) or type(error).__name__
    return CheckpointWriteError(f"{what} could not be written to {self.directory}: {detail}")

  def save(self, step: int, state: Any, meta: dict, val_f1: float | None = None) -> None:
    """Starts saving (asynchronously); `meta` must be JSON-serialisable.

    Raises CheckpointWriteError when this save, or the previous one still in flight, fails.
    """
    metrics = None if val_f1 is None else {BEST_METRIC: float(val_f1)}
    try:
      self._finished()   # the previous save's failure names its own step
      self._saving = step
      self.manager.save(step, args=ocp.args.Composite(
          state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)),
          metrics=metrics, force=True)
    except Exception as e:  # Orbax and tensorstore raise many kinds
      raise self._failed(e) from e

  def wait(self) -> None:
    try:
      self._finished()
    except Exception as e:
      raise self._failed(e) from e

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
      try:
        meta = self.read_meta(step)
      except Exception as e:  # a meta item that cannot be read is damage, not "no F1"
        raise self.damaged(step, self.problem(step) or f"its meta item cannot be read: {e}")
      f1 = meta.get("metrics", {}).get(BEST_METRIC)
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

  def problem(self, step: int) -> str | None:
    """What is wrong with a step's files against its digest; None when they match.

    A step saved before checkpoints had digests has nothing to be checked against: None.
    """
    return checkpoint_digest.problem(storage.join(self.directory, str(step)))

  def damaged(self, step: int, problem: str) -> DamagedCheckpoint:
    intact = [s for s in sorted(self.steps()) if s != step and self.problem(s) is None]
    return DamagedCheckpoint(self.directory, step, problem, intact)

  def checked(self, step: int) -> int:
    """`step` once its files match its digest; DamagedCheckpoint otherwise."""
    problem = self.problem(step)
    if problem is not None:
      raise self.damaged(step, problem)
    return step

  def set_aside(self, step: int) -> str:
    """Moves a damaged step out of Orbax's sight into DAMAGED_DIR; returns where it went."""
    destination = storage.join(self.workdir, DAMAGED_DIR, str(step))
    n = 2
    while storage.exists(destination):
      destination, n = storage.join(self.workdir, DAMAGED_DIR, f"{step}-{n}"), n + 1
    storage.move(storage.join(self.directory, str(step)), destination)
    self.manager.reload()
    self.committed = self.manager.latest_step()
    return destination

  def restore(self, step: int, target: Any) -> tuple[Any, dict]:
    """(state shaped like `target`, meta) of a step."""
    out = self.manager.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(target), meta=ocp.args.JsonRestore()))
    return out["state"], out["meta"]

  def close(self) -> None:
    """Waits for the save in flight and closes; CheckpointWriteError if that save failed."""
    error = None
    for finish in (self._finished, self.manager.close):
      try:
        finish()
      except Exception as e:
        error = error or e
    if error is not None:
      raise self._failed(error) from error
