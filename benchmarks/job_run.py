"""One job of the report: trained unless finished, its best checkpoint tested, its size counted."""
from __future__ import annotations

import json
import os
import time
import traceback
from typing import Any, Callable, Optional, Sequence

from babycry_jax import evaluation, models, runs, train_state, trainer
from babycry_jax.data import schema
from babycry_jax.models import batch_inputs, complexity
from benchmarks import report_jobs, run_metrics
from benchmarks.report_jobs import Job


class ReportInterrupted(RuntimeError):
  """A training stopped before its last step (SIGTERM): the report stops too, to be resumed."""


def _modalities(model_name: str) -> tuple[str, ...]:
  return tuple(getattr(models.get(model_name), "modalities", ("audio", "video")))


def _modality_settings(model_name: str) -> tuple[str, ...]:
  reads = set(_modalities(model_name))
  return ("both", "audio", "video") if reads == {"audio", "video"} else ("both",)


def _cached_eval(workdir: str, step: int, settings: Sequence[str]) -> Optional[dict]:
  results = {}
  for setting in settings:
    path = os.path.join(workdir, evaluation.EVAL_DIR, "test", evaluation.metrics_file(setting))
    if not os.path.exists(path):
      return None
    with open(path) as f:
      r = json.load(f)
    if r.get("checkpoint_step") != step:
      return None
    results[setting] = r
  return results


def evaluate_test(workdir: str, model_name: str) -> dict[str, dict]:
  """{setting: test metrics} of the best checkpoint; reuses files of the same checkpoint."""
  settings = _modality_settings(model_name)
  step = runs.resolve_step(workdir, "best")
  cached = _cached_eval(workdir, step, settings)
  if cached is not None:
    return cached
  result = evaluation.evaluate(workdir, "test", "best", modalities=settings)
  by_setting = result.get("by_modality", {"both": result})
  return {k: v for k, v in by_setting.items() if isinstance(v, dict)}


def complexity_of(workdir: str) -> tuple[int, float]:
  """(parameters, forward FLOPs per example) of the model in the run's saved config.

  Counted on freshly initialised variables: the count and the cost do not
  depend on trained values, and no checkpoint has to match today's optimizer.
  """
  config = runs.read_config(workdir)
  spec = schema.FeatureSpec.from_json(schema.read_metadata(config.dataset_dir)["feature_spec"])
  model = train_state.create_model(config)
  state = train_state.create_train_state(config, model, spec, steps_per_epoch=1)
  variables = {"params": state.params}
  if state.batch_stats:
    variables["batch_stats"] = state.batch_stats
  batch = batch_inputs.example_batch(
      2, audio_frames=config.audio_frames, n_mels=spec.n_mels, mfcc_dim=spec.mfcc_stats_dim,
      video_frames=config.video_frames, frame_size=spec.frame_size, channels=spec.channels)
  return (complexity.param_count(state.params),
          complexity.flops_per_example(model, variables, batch))


def _train_unless_finished(job: Job, config, workdir: str, row: dict,
                           log: Callable[[str], None]) -> None:
  if run_metrics.is_finished(workdir, config):
    log(f"  {job.name}: finished run found in {workdir}, not training again")
    row["trained_now"] = False
    return
  log(f"  {job.name}: training {config.model} for {config.num_epochs} epochs -> {workdir}")
  started = time.perf_counter()
  trainer.train_and_evaluate(config, workdir)
  if not run_metrics.is_finished(workdir, config):
    raise ReportInterrupted(f"training of {job.name} stopped early (preempted); run the same "
                            "command again to resume")
  row["trained_now"] = True
  row["train_call_s"] = time.perf_counter() - started


def _record_run(row: dict, workdir: str, per_epoch: int) -> None:
  row["val_curve"] = run_metrics.val_curve(workdir, per_epoch)
  # What the run really did: an earlier, longer report may have trained further.
  row["num_epochs"] = max((e for e, _ in row["val_curve"]), default=0.0)
  row["train_examples_per_s"] = run_metrics.median_examples_per_s(workdir)
  row["train_span_s"] = run_metrics.train_span_s(workdir)


def _record_test(row: dict, by_setting: dict[str, dict], per_epoch: int) -> None:
  both = by_setting["both"]
  row["checkpoint_step"] = both["checkpoint_step"]
  row["best_epoch"] = both["checkpoint_step"] / per_epoch
  row["test"] = {k: both.get(k) for k in ("f1", "precision", "recall", "accuracy", "roc_auc",
                                          "pr_auc", "num_examples")}
  for setting in ("audio", "video"):
    if setting in by_setting:
      row[f"test_f1_{setting}_only"] = by_setting[setting]["f1"]


def run_job(job: Job, workdir: str, log: Callable[[str], None] = print) -> dict:
  """Trains (unless finished) and evaluates one job; returns its result row.

  Failures are caught: the row then has status "failed: <error>".
  """
  row: dict[str, Any] = {"name": job.name, "label": job.label, "dataset": job.dataset,
                         "config": job.config_path, "workdir": workdir,
                         "study_val_f1": job.study_val_f1, "status": "ok"}
  stage = "config"
  try:
    config = report_jobs.load_config(job)
    row["model"] = config.model
    row["modalities"] = list(_modalities(config.model))
    row["config_epochs"] = config.num_epochs
    stage = "training"
    _train_unless_finished(job, config, workdir, row, log)
    per_epoch = run_metrics.steps_per_epoch(config)
    _record_run(row, workdir, per_epoch)
    stage = "evaluation"
    _record_test(row, evaluate_test(workdir, config.model), per_epoch)
    stage = "complexity"
    row["params"], row["flops_per_example"] = complexity_of(workdir)
  except ReportInterrupted:
    raise
  except Exception as e:  # one broken model must not stop the report
    row["status"] = f"failed in {stage}: {type(e).__name__}: {e}"
    row["traceback"] = traceback.format_exc()
    log(f"  {job.name}: FAILED in {stage}: {type(e).__name__}: {e}")
  return row
