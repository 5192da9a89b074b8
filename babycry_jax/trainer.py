"""The training loop: pmapped (or shard_mapped) steps, validation, checkpoints, resume.

`train_and_evaluate(config, workdir)` trains on an existing dataset until
config.num_epochs, resuming by itself from the newest intact checkpoint in
workdir (newer, damaged ones are set aside, see checkpointing). It checkpoints
every epoch and, with config.checkpoint_every_minutes, also between epochs, so a
host lost without warning costs at most that much work. On SIGTERM it saves a
checkpoint at the current step and returns; a NaN/Inf loss stops it before
anything is saved, so the last good checkpoint stays intact. One trainer at a
time: process 0 holds the workdir's lock (train.lock) for the run. A full disk
or an unreachable bucket stops it with StorageFault, which names the newest
complete checkpoint a rerun resumes from.
"""
from __future__ import annotations

import json
import signal
import time

import jax
import ml_collections
import numpy as np
from jax.experimental import multihost_utils

from babycry_jax import augment, checkpointing, console, forward, strategies
from babycry_jax import input_pipeline as ip
from babycry_jax import runs, warm_start
from babycry_jax.data import owner_lock, schema, storage, storage_faults
from babycry_jax.metric_writer import MetricWriter
from babycry_jax.train_state import create_model, create_train_state
from babycry_jax.train_step import build_eval_step, build_train_step

log = console.logger()


LOCK_FILE = "train.lock"


class TrainingDiverged(RuntimeError):
  """The loss became NaN or Inf."""


class WorkdirInUse(RuntimeError):
  """Another trainer holds the workdir's lock."""


class StorageFault(RuntimeError):
  """The workdir or the dataset could not be written or read: a full disk, an unreachable bucket."""


class _Preemption:
  """Turns SIGTERM into a flag the loop checks between steps."""

  def __init__(self):
    self.requested = False
    self._previous = signal.signal(signal.SIGTERM, self._handle)

  def _handle(self, signum, frame):
    log.warning("SIGTERM received: saving a checkpoint at the current step, then exiting")
    self.requested = True

  def restore(self):
    signal.signal(signal.SIGTERM, self._previous)


class _WallClock:
  """Says when `minutes` have passed since the last checkpoint (never when 0)."""

  def __init__(self, minutes: float):
    self.interval_s = 60.0 * minutes
    self.restart()

  def restart(self) -> None:
    self.last = time.monotonic()

  def due(self) -> bool:
    return self.interval_s > 0 and time.monotonic() - self.last >= self.interval_s


def _on_any_process(*flags: bool) -> list[bool]:
  """Each flag OR-ed over all processes in one collective: every process takes the same branch
  (a save is collective, and hosts' clocks and signals differ)."""
  if jax.process_count() == 1:
    return list(flags)
  gathered = multihost_utils.process_allgather(np.array(flags))
  return [bool(v) for v in np.any(np.reshape(gathered, (-1, len(flags))), axis=0)]


class ThroughputMeter:
  """Steps, input wait, compilation and checkpoint time since the last report."""

  def __init__(self, batch_size: int):
    self.batch_size = batch_size
    self.reset()

  def reset(self, checkpoint_s: float = 0.0) -> None:
    self.start, self.steps, self.wait_s = time.perf_counter(), 0, 0.0
    self.compile_s, self.checkpoint_s = 0.0, checkpoint_s

  def rates(self) -> dict[str, float]:
    elapsed = time.perf_counter() - self.start
    return {"steps_per_s": self.steps / elapsed,
            "examples_per_s": self.steps * self.batch_size / elapsed,
            "input_wait_fraction": self.wait_s / elapsed,
            "compile_s": self.compile_s, "checkpoint_s": self.checkpoint_s}


class _Training:
  """One training run's pieces: data, model and state, checkpoints, metrics."""

  def __init__(self, config: ml_collections.ConfigDict, workdir: str):
    self.config = config = ml_collections.ConfigDict(config.to_dict())  # the caller's stays
    # Saved absolute, so evaluation finds the dataset from anywhere.
    config.dataset_dir = storage.absolute(config.dataset_dir)
    spec = schema.FeatureSpec.from_json(schema.read_metadata(config.dataset_dir)["feature_spec"])
    if jax.process_index() == 0:
      runs.write_config(workdir, config)
    self.strategy = strategies.create(config.parallel)
    self.train_split, self.val_split = (
        ip.Split(config.dataset_dir, name, config.audio_frames, config.video_frames,
                 skip_corrupt=config.skip_corrupt_records) for name in ("train", "validation"))
    self.steps_per_epoch = len(self.train_split) // config.batch_size
    self.total_steps = int(config.num_epochs * self.steps_per_epoch)
    self.model = create_model(config, bn_axis_name=self.strategy.axis_name)
    self.state = create_train_state(config, self.model, spec, self.steps_per_epoch)
    self.ckpt = checkpointing.Checkpointer(workdir, keep_latest=config.checkpoint_keep)
    self.examples_read, self.best_f1 = 0, float("-inf")
    self.writer = MetricWriter(workdir)

  def _newest_intact_step(self) -> int | None:
    """The newest checkpoint whose files match their digest; newer, damaged ones are set aside.

    Returns -1 when there were checkpoints and every one is damaged.
    """
    steps = sorted(self.ckpt.steps(), reverse=True)
    for step in steps:
      problem = self.ckpt.problem(step)
      if problem is None:
        return step
      log.warning("checkpoint at step %d is damaged (%s); set aside in %s, falling back to the "
                  "one before", step, problem, self.ckpt.set_aside(step))
    return -1 if steps else None

  def _agreed_resume_step(self) -> int | None:
    """Process 0 checks the checkpoints (and sets damaged ones aside); every process gets its step."""
    step = self._newest_intact_step() if jax.process_index() == 0 else None
    if jax.process_count() > 1:
      step = int(multihost_utils.broadcast_one_to_all(np.int32(-2 if step is None else step)))
      step = None if step == -2 else step
      self.ckpt.manager.reload()
    if step == -1:
      raise StorageFault(
          f"every checkpoint in {self.ckpt.directory} was damaged; all are set aside in "
          f"{storage.join(self.ckpt.workdir, checkpointing.DAMAGED_DIR)}. Run the same command "
          "again to train from step 0.")
    return step

  def restore(self) -> None:
    """Resumes from the newest intact checkpoint, or applies the config's warm start to a fresh run."""
    step = self._agreed_resume_step()
    if step is None:
      self.state, warm = warm_start.apply(self.state, self.config)
      if warm:
        log.info("warm start: %s", warm)
      return
    self.state, meta = self.ckpt.restore(step, self.state)
    # Checkpoints from before the loader kept its position read one batch per step.
    self.examples_read = meta.get("examples_read", step * self.config.batch_size)
    self.best_f1 = meta.get("best_val_f1", self.best_f1)
    log.info("resuming from checkpoint at step %d (epoch %.2f, example %d of the stream)",
             step, step / self.steps_per_epoch, self.examples_read)

  def stream(self):
    loader = self.config.loader
    return iter(self.train_split.train_dataset(
        self.config.batch_size, self.config.seed, start=self.examples_read,
        worker_count=loader.worker_count, worker_buffer_size=loader.worker_buffer_size,
        read_threads=loader.read_threads))

  def build_steps(self) -> None:
    """The compiled train and eval steps; the state goes onto the devices."""
    self.p_train_step = build_train_step(
        self.config, self.model, self.strategy,
        augment.LogMelScale(*self.train_split.decoder.stats(schema.LOG_MEL)))
    self.p_eval_step = build_eval_step(self.config.loss, self.strategy)
    self.state = self.strategy.replicate(self.state)

  def save(self, step: int, val: dict | None) -> float:
    """Checkpoints the state (and the loader's position, the metrics); returns the seconds."""
    t0 = time.perf_counter()
    meta = {"examples_read": self.examples_read, "best_val_f1": self.best_f1,
            "metrics": {} if val is None else {"val_f1": val["f1"], **{
                f"val_{k}": v for k, v in val.items() if isinstance(v, float)}},
            "config": json.loads(self.config.to_json_best_effort())}
    self.ckpt.save(step, self.strategy.unreplicate(self.state), meta,
                   None if val is None else val["f1"])
    return time.perf_counter() - t0

  def validate(self, step: int) -> dict:
    eval_batch = self.config.eval_batch_size or self.config.batch_size
    val, _, _ = forward.score_split(self.strategy, self.p_eval_step, self.state,
                                    self.val_split.eval_batches(eval_batch))
    self.best_f1 = max(self.best_f1, val["f1"])
    self.writer.write(step, "val", {k: v for k, v in val.items() if isinstance(v, float)},
                      f"validation at step {step}: f1 {val['f1']:.4f} acc {val['accuracy']:.4f} "
                      f"auc {val['roc_auc']:.4f} loss {val['loss']:.4f} (best f1 {self.best_f1:.4f})")
    return val

  def log_train(self, step: int, step_metrics, meter: ThroughputMeter) -> None:
    host = self.strategy.first(step_metrics)
    rates = meter.rates()
    epoch = step / self.steps_per_epoch
    self.writer.write(step, "train", {**{k: float(v) for k, v in host.items()}, **rates,
                                      "epoch": epoch},
                      f"step {step}/{self.total_steps} ({100 * step / self.total_steps:.0f}%) "
                      f"epoch {epoch:.2f}: loss {float(host['loss']):.4f} acc "
                      f"{float(host['accuracy']):.3f}, {rates['examples_per_s']:.1f} ex/s, "
                      f"input wait {100 * rates['input_wait_fraction']:.0f}%")
    meter.reset()

  def train_loop(self, stream, preemption: "_Preemption", start_step: int) -> dict:
    """Steps until the last one or a preemption; validation and a checkpoint every epoch, and a
    checkpoint every config.checkpoint_every_minutes between epochs."""
    config, val, step = self.config, {}, start_step
    meter = ThroughputMeter(config.batch_size)
    clock = _WallClock(config.checkpoint_every_minutes)
    pending = None  # (step, metrics) of the previous step, checked one step late
    while step < self.total_steps:
      t0 = time.perf_counter()
      batch = next(stream)
      self.examples_read += config.batch_size
      meter.wait_s += time.perf_counter() - t0
      t1 = time.perf_counter()
      self.state, step_metrics = self.p_train_step(self.state, self.strategy.shard_batch(batch))
      if step == start_step:
        jax.block_until_ready(step_metrics)
        meter.compile_s = time.perf_counter() - t1
      step += 1
      meter.steps += 1
      if pending is not None:
        _check_finite(*pending)
      pending = (step, step_metrics)
      epoch_done = step % self.steps_per_epoch == 0
      if step % config.log_every_steps == 0 or epoch_done or step == self.total_steps:
        _check_finite(*pending)
        self.log_train(step, step_metrics, meter)
      if epoch_done or step == self.total_steps:
        val = self.validate(step)
        meter.reset(checkpoint_s=self.save(step, val))
        clock.restart()
        continue
      stop, save_due = _on_any_process(preemption.requested, clock.due())
      if stop:
        self.save(step, None)
        self.ckpt.wait()
        log.warning("checkpoint at step %d written; exiting for preemption. Run the same "
                    "command again to resume.", step)
        break
      if save_due:
        meter.reset(checkpoint_s=self.save(step, None))
        clock.restart()
        log.info("checkpoint at step %d (every %g minutes)", step, config.checkpoint_every_minutes)
    return val

  def close(self) -> None:
    """Closes the metrics first: a failed last checkpoint must not cost the metrics their close."""
    try:
      self.writer.close()
    finally:
      self.ckpt.close()


def _lock_workdir(workdir: str) -> owner_lock.Lock | None:
  """Process 0 takes the workdir's lock for the run; every process learns whether it was refused.

  Only process 0 locks, so the processes of one multi-host job are never refused.
  """
  lock, refusal = None, None
  if jax.process_index() == 0:
    storage.makedirs(workdir)
    try:
      lock = owner_lock.acquire(storage.join(workdir, LOCK_FILE))
    except owner_lock.LockHeld as e:
      refusal = (f"{workdir} is in use by another trainer ({owner_lock.describe(e.holder)}): "
                 f"stop it or choose another --workdir. The lock {e.path} frees itself when "
                 f"that trainer ends, even if it is killed")
  if jax.process_count() > 1:
    refused = bool(multihost_utils.broadcast_one_to_all(np.int32(refusal is not None)))
    if refused and refusal is None:
      refusal = f"{workdir} is in use by another trainer (process 0 could not take its lock)"
  if refusal is not None:
    raise WorkdirInUse(refusal)
  return lock


def _fault_message(error: BaseException, kind: str | None, run: "_Training | None") -> str:
  """One line: what failed, what to do, and which checkpoint a rerun resumes from."""
  detail = " ".join(str(error).split()) or type(error).__name__
  advice = storage_faults.ADVICE.get(kind, "remove the cause named here")
  if run is None:
    kept = "no checkpoint was touched"
  elif run.ckpt.committed is None:
    kept = "there is no complete checkpoint yet, so a rerun starts from step 0"
  else:
    kept = (f"the newest complete checkpoint, step {run.ckpt.committed}, is intact and a rerun "
            "resumes from it")
  return (f"training stopped: {detail}. {advice[0].upper()}{advice[1:]}, then run the same "
          f"command again: {kept}.")


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
  """Trains until config.num_epochs; returns the last validation metrics.

  Raises WorkdirInUse when another trainer holds the workdir, and StorageFault
  when a write or read fails for lack of space or of a reachable bucket.
  """
  lock = _lock_workdir(workdir)
  run = None
  try:
    run = _Training(config, workdir)
    return _train(run)
  except Exception as e:
    kind = storage_faults.kind(e)
    if kind is None and not isinstance(e, checkpointing.CheckpointWriteError):
      raise
    raise StorageFault(_fault_message(e, kind, run)) from e
  finally:
    if lock is not None:
      try:
        lock.release()
      except Exception as e:  # an unreachable bucket: the lock goes stale by itself
        log.warning("could not remove the lock %s (%s); it frees itself", lock.path, e)


def _train(run: _Training) -> dict:
  """Restores, trains and validates; closes the run's writers whatever happens."""
  try:
    run.restore()
    start_step = int(run.state.step)
    stream = run.stream()
    run.build_steps()
    log.info("training %s on %d devices (%d processes): %d examples, %d steps/epoch, "
             "global batch %d, steps %d -> %d", run.config.model, jax.device_count(),
             jax.process_count(), len(run.train_split), run.steps_per_epoch,
             run.config.batch_size, start_step, run.total_steps)
    preemption = _Preemption()
    try:
      if run.total_steps == 0 and start_step == 0 and run.ckpt.latest_step() is None:
        # Nothing to train (num_epochs 0: a model that is all warm start, such as YAMNet as
        # it comes): the starting model is validated and saved, for evaluation and detection.
        val = run.validate(0)
        run.save(0, val)
        return val
      return run.train_loop(stream, preemption, start_step)
    finally:
      stream.close()
      preemption.restore()
  finally:
    run.close()


def _check_finite(step: int, step_metrics) -> None:
  loss = np.asarray(jax.device_get(step_metrics["loss"])).reshape(-1)[0]
  if not np.isfinite(loss):
    raise TrainingDiverged(
        f"loss became {loss} at step {step}; stopping without saving. The last good "
        "checkpoint is intact: lower the learning rate or enable grad_clip_norm and resume.")
