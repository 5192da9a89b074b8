"""The training loop: pmapped (or shard_mapped) steps, validation, checkpoints, resume.

`train_and_evaluate(config, workdir)` trains on an existing dataset until
config.num_epochs, resuming by itself from the newest checkpoint in workdir.
On SIGTERM it saves a checkpoint at the current step and returns; a NaN/Inf
loss stops it before anything is saved, so the last good checkpoint stays intact.
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
from babycry_jax.data import schema, storage
from babycry_jax.metric_writer import MetricWriter
from babycry_jax.train_state import create_model, create_train_state
from babycry_jax.train_step import build_eval_step, build_train_step

log = console.logger()


class TrainingDiverged(RuntimeError):
  """The loss became NaN or Inf."""


class _Preemption:
  """Turns SIGTERM into a flag the loop checks between steps."""

  def __init__(self):
    self.requested = False
    self._previous = signal.signal(signal.SIGTERM, self._handle)

  def _handle(self, signum, frame):
    log.warning("SIGTERM received: saving a checkpoint at the current step, then exiting")
    self.requested = True

  def agreed(self) -> bool:
    """True on every process once any process was asked to stop."""
    if jax.process_count() == 1:
      return self.requested
    return bool(np.any(multihost_utils.process_allgather(np.array(self.requested))))

  def restore(self):
    signal.signal(signal.SIGTERM, self._previous)


# ---------------------------------------------------------------- the loop

def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
  """Trains until config.num_epochs; returns the last validation metrics."""
  config = ml_collections.ConfigDict(config.to_dict())  # the caller's config stays as it is
  # Saved absolute, so evaluation finds the dataset from anywhere.
  config.dataset_dir = dataset_dir = storage.absolute(config.dataset_dir)
  metadata = schema.read_metadata(dataset_dir)
  spec = schema.FeatureSpec.from_json(metadata["feature_spec"])
  if jax.process_index() == 0:
    runs.write_config(workdir, config)

  strategy = strategies.create(config.parallel)
  train_split, val_split = (
      ip.Split(dataset_dir, name, config.audio_frames, config.video_frames,
               skip_corrupt=config.skip_corrupt_records) for name in ("train", "validation"))
  steps_per_epoch = len(train_split) // config.batch_size
  total_steps = int(config.num_epochs * steps_per_epoch)
  eval_batch = config.eval_batch_size or config.batch_size

  model = create_model(config, bn_axis_name=strategy.axis_name)
  state = create_train_state(config, model, spec, steps_per_epoch)
  ckpt = checkpointing.Checkpointer(workdir, keep_latest=config.checkpoint_keep)
  if ckpt.latest_step() is None:
    state, warm = warm_start.apply(state, config)
    if warm:
      log.info("warm start: %s", warm)
  examples_read, best_f1 = 0, float("-inf")
  if ckpt.latest_step() is not None:
    step = ckpt.latest_step()
    state, meta = ckpt.restore(step, state)
    # Checkpoints from before the loader kept its position read one batch per step.
    examples_read = meta.get("examples_read", step * config.batch_size)
    best_f1 = meta.get("best_val_f1", best_f1)
    log.info("resuming from checkpoint at step %d (epoch %.2f, example %d of the stream)",
             step, step / steps_per_epoch, examples_read)
  start_step = int(state.step)
  loader = config.loader
  stream = iter(train_split.train_dataset(
      config.batch_size, config.seed, start=examples_read, worker_count=loader.worker_count,
      worker_buffer_size=loader.worker_buffer_size, read_threads=loader.read_threads))

  writer = MetricWriter(workdir)
  p_train_step = build_train_step(
      config, model, strategy, augment.LogMelScale(*train_split.decoder.stats(schema.LOG_MEL)))
  p_eval_step = build_eval_step(config.loss, strategy)
  state = strategy.replicate(state)
  preemption = _Preemption()

  log.info("training %s on %d devices (%d processes): %d examples, %d steps/epoch, "
               "global batch %d, steps %d -> %d", config.model, jax.device_count(),
               jax.process_count(), len(train_split), steps_per_epoch, config.batch_size,
               start_step, total_steps)

  def save(step: int, val: dict | None):
    t0 = time.perf_counter()
    meta = {"examples_read": examples_read, "best_val_f1": best_f1,
            "metrics": {} if val is None else {"val_f1": val["f1"], **{
                f"val_{k}": v for k, v in val.items() if isinstance(v, float)}},
            "config": json.loads(config.to_json_best_effort())}
    ckpt.save(step, strategy.unreplicate(state), meta, None if val is None else val["f1"])
    return time.perf_counter() - t0

  def validate(step: int) -> dict:
    nonlocal best_f1
    val, _, _ = forward.score_split(strategy, p_eval_step, state, val_split.eval_batches(eval_batch))
    best_f1 = max(best_f1, val["f1"])
    writer.write(step, "val", {k: v for k, v in val.items() if isinstance(v, float)},
                 f"validation at step {step}: f1 {val['f1']:.4f} acc {val['accuracy']:.4f} "
                 f"auc {val['roc_auc']:.4f} loss {val['loss']:.4f} (best f1 {best_f1:.4f})")
    return val

  val = {}
  pending = None  # (step, metrics) of the previous step, checked one step late
  window = {"wait": 0.0, "start": time.perf_counter(), "steps": 0, "compile": 0.0, "ckpt": 0.0}
  step = start_step
  try:
    if total_steps == 0 and start_step == 0 and ckpt.latest_step() is None:
      # Nothing to train (num_epochs 0: a model that is all warm start, such as YAMNet as
      # it comes): the starting model is validated and saved, for evaluation and detection.
      val = validate(0)
      save(0, val)
    while step < total_steps:
      t0 = time.perf_counter()
      batch = next(stream)
      examples_read += config.batch_size
      window["wait"] += time.perf_counter() - t0
      t1 = time.perf_counter()
      state, step_metrics = p_train_step(state, strategy.shard_batch(batch))
      if step == start_step:
        jax.block_until_ready(step_metrics)
        window["compile"] = time.perf_counter() - t1
      step += 1
      window["steps"] += 1
      if pending is not None:
        _check_finite(*pending)
      pending = (step, step_metrics)

      epoch_done = step % steps_per_epoch == 0
      if step % config.log_every_steps == 0 or epoch_done or step == total_steps:
        _check_finite(*pending)
        host = strategy.first(step_metrics)
        elapsed = time.perf_counter() - window["start"]
        rates = {
            "steps_per_s": window["steps"] / elapsed,
            "examples_per_s": window["steps"] * config.batch_size / elapsed,
            "input_wait_fraction": window["wait"] / elapsed,
            "compile_s": window["compile"],
            "checkpoint_s": window["ckpt"],
        }
        epoch_float = step / steps_per_epoch
        writer.write(step, "train", {**{k: float(v) for k, v in host.items()}, **rates,
                                     "epoch": epoch_float},
                     f"step {step}/{total_steps} ({100 * step / total_steps:.0f}%) epoch "
                     f"{epoch_float:.2f}: loss {float(host['loss']):.4f} acc "
                     f"{float(host['accuracy']):.3f}, {rates['examples_per_s']:.1f} ex/s, "
                     f"input wait {100 * rates['input_wait_fraction']:.0f}%")
        window = {"wait": 0.0, "start": time.perf_counter(), "steps": 0, "compile": 0.0, "ckpt": 0.0}

      if epoch_done or step == total_steps:
        val = validate(step)
        checkpoint_s = save(step, val)
        window = {"wait": 0.0, "start": time.perf_counter(), "steps": 0, "compile": 0.0,
                  "ckpt": checkpoint_s}
      elif preemption.agreed():
        save(step, None)
        ckpt.wait()
        log.warning("checkpoint at step %d written; exiting for preemption. Run the same "
                        "command again to resume.", step)
        break
  finally:
    stream.close()
    preemption.restore()
    ckpt.close()
    writer.close()
  return val


def _check_finite(step: int, step_metrics) -> None:
  loss = np.asarray(jax.device_get(step_metrics["loss"])).reshape(-1)[0]
  if not np.isfinite(loss):
    raise TrainingDiverged(
        f"loss became {loss} at step {step}; stopping without saving. The last good "
        "checkpoint is intact: lower the learning rate or enable grad_clip_norm and resume.")
