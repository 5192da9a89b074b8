r"""Trains a model on a babycry dataset with pmapped steps over all devices of all hosts.

  python -m babycry_jax.train --config configs/default.py --workdir runs/default

Resumes by itself from the newest checkpoint in --workdir. On SIGTERM it saves
a checkpoint at the current step and exits; a NaN/Inf loss stops it before
anything is saved, so the last good checkpoint stays intact.
"""
from __future__ import annotations

import functools
import json
import os
import signal
import sys
import time
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import app, flags
from jax.experimental import multihost_utils
from ml_collections import config_flags

from babycry_jax import console
from babycry_jax import augment, checkpointing, losses, metrics, models, optimizers, schema, storage
from babycry_jax import input_pipeline as ip
from babycry_jax.metric_writer import MetricWriter
from babycry_jax.parallel import Parallel
from babycry_jax.train_step import TrainState, eval_step, train_step

CONFIG_FILE = "config.json"

log = console.logger()


class TrainingDiverged(RuntimeError):
  """The loss became NaN or Inf."""


# ---------------------------------------------------------------- set-up

def resolve_dataset(config: ml_collections.ConfigDict) -> str:
  """The dataset dir, built first from the embedded default when the config says so."""
  dataset_dir = storage.absolute(config.dataset_dir)
  if storage.exists(storage.join(dataset_dir, schema.METADATA_FILE)):
    return dataset_dir
  embedded = config.embedded_default
  if storage.is_url(dataset_dir):
    raise FileNotFoundError(
        f"no dataset at {dataset_dir}: build it with "
        f"`python -m preprocess --input MEDIA --output {dataset_dir}`")
  if not embedded.build_if_missing:
    raise FileNotFoundError(
        f"dataset dir {dataset_dir} does not exist; build it with "
        f"`python -m preprocess --input MEDIA --output {dataset_dir}`")
  if jax.process_index() == 0:
    from preprocess import embedded_default
    from preprocess.pipeline import build_dataset
    media_dir = os.path.abspath(embedded.media_dir)
    log.info("dataset %s is missing: generating the embedded default media (%d clips, "
                 "seed %d) into %s, then running the Beam job", dataset_dir,
                 embedded.num_clips, embedded.seed, media_dir)
    embedded_default.generate(media_dir, num_clips=embedded.num_clips, seed=embedded.seed)
    build_dataset(media_dir, dataset_dir, schema.preset("paper"))
  if jax.process_count() > 1:
    multihost_utils.sync_global_devices("embedded dataset built")
  return dataset_dir


def create_model(config: ml_collections.ConfigDict):
  dtype = jnp.bfloat16 if config.half_precision else jnp.float32
  return models.create(config.model, dtype=dtype, **config.model_kwargs.to_dict())


def example_inputs(spec: schema.FeatureSpec, config: ml_collections.ConfigDict) -> dict:
  """A zero batch of one example, for shape inference."""
  return {
      "log_mel": jnp.zeros((1, config.audio_frames, spec.n_mels)),
      "mfcc_stats": jnp.zeros((1, spec.mfcc_stats_dim)),
      "frames": jnp.zeros((1, config.video_frames, spec.frame_size, spec.frame_size, spec.channels)),
      "has_audio": jnp.ones((1,)),
      "has_video": jnp.ones((1,)),
  }


def create_train_state(config, model, spec, steps_per_epoch: int) -> TrainState:
  """Fresh state on the host, deterministic in config.seed."""
  tx = optimizers.create(config, steps_per_epoch)

  def init(seed):
    init_key, dropout_key, train_key = jax.random.split(jax.random.PRNGKey(seed), 3)
    variables = model.init({"params": init_key, "dropout": dropout_key},
                           example_inputs(spec, config), train=False)
    return variables, tx.init(variables["params"]), train_key

  # One compiled call (eager ops would each compile); BatchNorm needs its named
  # axis even at init, which a 1-device pmap provides.
  p_init = jax.pmap(init, axis_name="batch", devices=jax.local_devices()[:1])
  variables, opt_state, train_key = jax.tree.map(
      lambda x: np.array(np.asarray(x)[0]), p_init(np.array([config.seed], np.uint32)))
  return TrainState(step=np.zeros((), np.int32), apply_fn=model.apply, params=variables["params"], tx=tx,
                    opt_state=opt_state, batch_stats=variables.get("batch_stats"), rng=train_key)


def evaluate_split(parallel: Parallel, p_eval_step, state, reader: ip.SplitReader,
                   batch_size: int) -> tuple[dict, np.ndarray, np.ndarray]:
  """(metrics over the whole split, labels, scores) of every example, in stored order."""
  scores, labels, weights, loss_sum, count = [], [], [], 0.0, 0.0
  for batch in ip.eval_batches(reader, batch_size):
    out = p_eval_step(state, parallel.shard_batch(batch))
    scores.append(parallel.to_host(out["score"]))
    labels.append(batch["label"].reshape(-1))
    weights.append(batch["weight"].reshape(-1))
    reduced = parallel.first({"loss_sum": out["loss_sum"], "count": out["count"]})
    loss_sum += float(reduced["loss_sum"])
    count += float(reduced["count"])
  scores, labels, weights = (np.concatenate(x) for x in (scores, labels, weights))
  if jax.process_count() > 1:
    gathered = multihost_utils.process_allgather(np.stack([scores, labels, weights]))
    scores, labels, weights = (np.concatenate(list(gathered[:, i])) for i in range(3))
  keep = weights > 0
  result = metrics.binary_metrics(labels[keep], scores[keep])
  result["loss"] = loss_sum / max(count, 1.0)
  return result, labels[keep], scores[keep]


def eval_step_fn(config: ml_collections.ConfigDict):
  return functools.partial(eval_step, loss_fn=losses.get(config.loss))


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
  dataset_dir = resolve_dataset(config)
  with config.unlocked():
    config.dataset_dir = dataset_dir  # saved absolute, so evaluation finds it from anywhere
  metadata = schema.read_metadata(dataset_dir)
  spec = schema.FeatureSpec.from_json(metadata["feature_spec"])
  if jax.process_index() == 0:
    storage.makedirs(workdir)
    storage.write_text(storage.join(workdir, CONFIG_FILE), config.to_json_best_effort(indent=2))

  parallel = Parallel(config.parallel)
  train_reader = ip.SplitReader(dataset_dir, "train", config.audio_frames, config.video_frames,
                                skip_corrupt=config.skip_corrupt_records)
  val_reader = ip.SplitReader(dataset_dir, "validation", config.audio_frames, config.video_frames,
                              skip_corrupt=config.skip_corrupt_records)
  steps_per_epoch = len(train_reader) // config.batch_size
  total_steps = int(config.num_epochs * steps_per_epoch)
  eval_batch = config.eval_batch_size or config.batch_size

  model = create_model(config)
  state = create_train_state(config, model, spec, steps_per_epoch)
  ckpt = checkpointing.Checkpointer(workdir, keep_latest=config.checkpoint_keep)
  position, best_f1 = ip.Position(), float("-inf")
  if ckpt.latest_step() is not None:
    step = ckpt.latest_step()
    state, meta = ckpt.restore(step, state)
    position = ip.Position(**meta["position"])
    best_f1 = meta.get("best_val_f1", best_f1)
    log.info("resuming from checkpoint at step %d (epoch %d, batch %d)",
                 step, position.epoch, position.batch)
  start_step = int(state.step)
  stream = ip.TrainStream(train_reader, config.batch_size, config.seed, position)

  writer = MetricWriter(workdir)
  aug = augment.AugmentConfig.from_config(config.augment)
  loss_fn = losses.get(config.loss)
  # Hiding the only modality a model reads would leave it nothing to learn from.
  modality_dropout = config.modality_dropout if len(model.modalities) > 1 else 0.0
  p_train_step = parallel.wrap_train(functools.partial(
      train_step, loss_fn=loss_fn, aug=aug, modality_dropout=modality_dropout))
  p_eval_step = parallel.wrap_eval(eval_step_fn(config))
  state = parallel.replicate(state)
  preemption = _Preemption()

  log.info("training %s on %d devices (%d processes): %d examples, %d steps/epoch, "
               "global batch %d, steps %d -> %d", config.model, jax.device_count(),
               jax.process_count(), len(train_reader), steps_per_epoch, config.batch_size,
               start_step, total_steps)

  def save(step: int, val: dict | None):
    t0 = time.perf_counter()
    meta = {"position": {"epoch": stream.position.epoch, "batch": stream.position.batch},
            "best_val_f1": best_f1, "metrics": {} if val is None else {"val_f1": val["f1"], **{
                f"val_{k}": v for k, v in val.items() if isinstance(v, float)}},
            "config": json.loads(config.to_json_best_effort())}
    ckpt.save(step, parallel.unreplicate(state), meta, None if val is None else val["f1"])
    return time.perf_counter() - t0

  val = {}
  pending = None  # (step, metrics) of the previous step, checked one step late
  window = {"wait": 0.0, "start": time.perf_counter(), "steps": 0, "compile": 0.0, "ckpt": 0.0}
  step = start_step
  try:
    while step < total_steps:
      t0 = time.perf_counter()
      batch = next(stream)
      window["wait"] += time.perf_counter() - t0
      t1 = time.perf_counter()
      state, step_metrics = p_train_step(state, parallel.shard_batch(batch))
      if step == start_step:
        jax.block_until_ready(step_metrics)
        window["compile"] = time.perf_counter() - t1
      step += 1
      window["steps"] += 1
      if pending is not None:
        _check_finite(*pending)
      pending = (step, step_metrics)

      epoch_done = stream.position.batch == 0
      if step % config.log_every_steps == 0 or epoch_done or step == total_steps:
        _check_finite(*pending)
        host = parallel.first(step_metrics)
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
        val, _, _ = evaluate_split(parallel, p_eval_step, state, val_reader, eval_batch)
        best_f1 = max(best_f1, val["f1"])
        writer.write(step, "val", {k: v for k, v in val.items() if isinstance(v, float)},
                     f"validation at step {step}: f1 {val['f1']:.4f} acc {val['accuracy']:.4f} "
                     f"auc {val['roc_auc']:.4f} loss {val['loss']:.4f} (best f1 {best_f1:.4f})")
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


# ---------------------------------------------------------------- entry point

FLAGS = flags.FLAGS


def define_flags() -> None:
  """Command-line flags; defined on demand so that importing this module defines none."""
  config_flags.DEFINE_config_file("config", None, "Training config file (Python).", lock_config=True)
  flags.DEFINE_string("workdir", None, "Directory for checkpoints, metrics and the saved config.")
  flags.DEFINE_string("coordinator_address", None,
                      "host:port of process 0, for multi-host runs outside a TPU pod.")
  flags.DEFINE_integer("num_processes", None, "Number of processes in a multi-host run.")
  flags.DEFINE_integer("process_id", None, "This process's index in a multi-host run.")
  flags.DEFINE_bool("distributed", False,
                    "Call jax.distributed.initialize() with auto-detection (TPU pods).")


def initialize_distributed() -> None:
  if FLAGS.coordinator_address:
    if jax.config.jax_platforms in (None, "", "cpu"):
      jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator_address=FLAGS.coordinator_address,
                               num_processes=FLAGS.num_processes, process_id=FLAGS.process_id)
  elif FLAGS.distributed:
    jax.distributed.initialize()


def main(argv):
  del argv
  console.quiet_libraries()
  initialize_distributed()
  try:
    train_and_evaluate(FLAGS.config, FLAGS.workdir)
  except (TrainingDiverged, FileNotFoundError, ValueError) as e:
    log.error("%s", e)
    sys.exit(1)


if __name__ == "__main__":
  define_flags()
  flags.mark_flags_as_required(["config", "workdir"])
  app.run(main)
