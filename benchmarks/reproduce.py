r"""Reproduces the study: trains every model, evaluates it on test, writes a table and a figure.

  python -m benchmarks.reproduce [--models svm,cnn6,...] [--epochs N]
      [--workdir_root runs/reproduce] [--out benchmarks/reproduction]

Each model of the study (and our attention-bottleneck fusion) is trained on the
embedded default dataset, one after the other, with its own config
(configs/<model>.py); its best checkpoint (validation F1) is evaluated on the
test split, fusion models also with one track hidden. When the real media of
../shared/data is present, the audio models are also trained on the
real-audio dataset (built first by preprocess.real_audio_recipe if missing)
and get a second table, and the headline table comes first: the false alarms
of configs/real_world.py on each source group held out of its training
(`python -m benchmarks.real_world`, over --loso_seeds, on the real-world
dataset built first when missing).

Writes into --out: table.md, results.json and f1_vs_epoch.png (validation F1
per epoch of every run, from its metrics.jsonl). A model whose workdir holds a
finished run is not trained again and an evaluation of the same checkpoint is
reused, so an interrupted report continues where it stopped. A model that
fails is reported as failed, with its error, and the others still run.
"""
from __future__ import annotations

import datetime
import importlib
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from typing import Any, Callable, Optional, Sequence

from absl import app, flags

from babycry_jax.data import storage  # no JAX import: the heavy modules load lazily below
from benchmarks import report_files, report_jobs, report_table, run_metrics
from benchmarks.report_jobs import EMBEDDED, REAL_AUDIO, REPO_ROOT, Job


class ReportInterrupted(RuntimeError):
  """A training stopped before its last step (SIGTERM): the report stops too, to be resumed."""


# ---------------------------------------------------------------- one job

def _modality_settings(model_name: str) -> tuple[str, ...]:
  from babycry_jax import models
  reads = set(getattr(models.get(model_name), "modalities", ("audio", "video")))
  return ("both", "audio", "video") if reads == {"audio", "video"} else ("both",)


def _cached_eval(workdir: str, step: int, settings: Sequence[str]) -> Optional[dict]:
  from babycry_jax import evaluation
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
  from babycry_jax import evaluation, runs
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
  from babycry_jax import runs, train_state
  from babycry_jax.data import schema
  from babycry_jax.models import batch_inputs, complexity
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


def run_job(job: Job, workdir: str, log: Callable[[str], None] = print) -> dict:
  """Trains (unless finished) and evaluates one job; returns its result row.

  Failures are caught: the row then has status "failed: <error>".
  """
  row: dict[str, Any] = {"name": job.name, "label": job.label, "dataset": job.dataset,
                         "config": job.config_path, "workdir": workdir,
                         "study_val_f1": job.study_val_f1, "status": "ok"}
  stage = "config"
  try:
    from babycry_jax import models, trainer
    config = report_jobs.load_config(job)
    row["model"] = config.model
    row["modalities"] = list(getattr(models.get(config.model), "modalities", ("audio", "video")))
    row["config_epochs"] = config.num_epochs
    stage = "training"
    if run_metrics.is_finished(workdir, config):
      log(f"  {job.name}: finished run found in {workdir}, not training again")
      row["trained_now"] = False
    else:
      log(f"  {job.name}: training {config.model} for {config.num_epochs} epochs -> {workdir}")
      started = time.perf_counter()
      trainer.train_and_evaluate(config, workdir)
      if not run_metrics.is_finished(workdir, config):
        raise ReportInterrupted(f"training of {job.name} stopped early (preempted); run the same "
                                "command again to resume")
      row["trained_now"] = True
      row["train_call_s"] = time.perf_counter() - started
    per_epoch = run_metrics.steps_per_epoch(config)
    row["val_curve"] = run_metrics.val_curve(workdir, per_epoch)
    # What the run really did: an earlier, longer report may have trained further.
    row["num_epochs"] = max((e for e, _ in row["val_curve"]), default=0.0)
    row["train_examples_per_s"] = run_metrics.median_examples_per_s(workdir)
    row["train_span_s"] = run_metrics.train_span_s(workdir)
    stage = "evaluation"
    by_setting = evaluate_test(workdir, config.model)
    both = by_setting["both"]
    row["checkpoint_step"] = both["checkpoint_step"]
    row["best_epoch"] = both["checkpoint_step"] / per_epoch
    row["test"] = {k: both.get(k) for k in ("f1", "precision", "recall", "accuracy", "roc_auc",
                                            "pr_auc", "num_examples")}
    for setting in ("audio", "video"):
      if setting in by_setting:
        row[f"test_f1_{setting}_only"] = by_setting[setting]["f1"]
    stage = "complexity"
    row["params"], row["flops_per_example"] = complexity_of(workdir)
  except ReportInterrupted:
    raise
  except Exception as e:  # one broken model must not stop the report
    row["status"] = f"failed in {stage}: {type(e).__name__}: {e}"
    row["traceback"] = traceback.format_exc()
    log(f"  {job.name}: FAILED in {stage}: {type(e).__name__}: {e}")
  return row


def _machine() -> str:
  import jax
  return (f"{platform.machine()} {os.cpu_count()} CPU cores, jax {jax.__version__} on "
          f"{jax.device_count()} {jax.default_backend()} device(s)")


def reproduce(jobs: Sequence[Job], workdir_root: str, out_dir: str,
              dataset_dirs: dict[str, str], command: str = "",
              skipped: str = "", log: Callable[[str], None] = print) -> dict:
  """Runs the jobs in order and writes the outputs after each one (so a kill keeps the rows so far).

  Args:
    jobs: the runs, each to the table of its dataset.
    workdir_root: runs go to <workdir_root>/<dataset>/<job name>.
    out_dir: where table.md, results.json and f1_vs_epoch.png are written.
    dataset_dirs: dataset name -> its dir, for the per-split counts.
    command: the command line, recorded in the outputs.
    skipped: a note on what was not run and why.

  Returns:
    the results dict written to results.json.
  """
  results = {"generated": datetime.datetime.now().isoformat(timespec="seconds"),
             "command": command, "machine": _machine(), "tables": {}, "skipped": skipped}
  started = time.perf_counter()
  for index, job in enumerate(jobs, 1):
    log(f"[{index}/{len(jobs)}] {job.label} on {job.dataset} "
        f"({time.perf_counter() - started:.0f} s elapsed)")
    job_started = time.perf_counter()
    try:
      row = run_job(job, os.path.join(workdir_root, job.dataset, job.name), log)
    except ReportInterrupted as e:
      log(f"stopping the report: {e}")
      results["interrupted"] = str(e)
      report_files.write_outputs(results, out_dir)
      break
    row["wall_s"] = time.perf_counter() - job_started
    if row["status"] == "ok":
      log(f"  {job.name}: test F1 {row['test']['f1']:.4f}, {row['wall_s']:.0f} s")
    section = results["tables"].setdefault(
        job.dataset, {"dataset_dir": dataset_dirs.get(job.dataset, ""), "rows": []})
    section["rows"].append(row)
    for dataset, s in results["tables"].items():
      s["dataset_line"] = report_table.dataset_line(s["dataset_dir"]) if s["dataset_dir"] else ""
    results["total_wall_s"] = time.perf_counter() - started
    report_files.write_outputs(results, out_dir)
  return results


# ---------------------------------------------------------------- command line

def _ensure_recipe_dataset(dataset_dir: str, shared_dir: str, corpus: str,
                           log: Callable[[str], None]) -> Optional[str]:
  """dataset_dir, built by preprocess.<corpus>.build from <shared_dir>/<corpus> when missing;
  None (with the reason logged) when that corpus is absent."""
  from babycry_jax.data import schema
  if os.path.exists(os.path.join(dataset_dir, schema.METADATA_FILE)):
    return dataset_dir
  if not os.path.isdir(os.path.join(shared_dir, corpus)):
    log(f"{corpus} dataset skipped: {dataset_dir} is missing and {shared_dir}/{corpus} is absent")
    return None
  log(f"building the {corpus} dataset {dataset_dir} from {shared_dir}")
  importlib.import_module(f"preprocess.{corpus}").build(shared_dir, dataset_dir, log=log)
  return dataset_dir


def leave_one_source_out(dataset_dir: str, workdir: str, seeds: Sequence[str],
                         epochs: Optional[int] = None, log: Callable[[str], None] = print,
                         extra_flags: Sequence[str] = ()) -> dict:
  """Runs `python -m benchmarks.real_world` in a process of its own (a command never imports
  another) and returns its table; finished runs in workdir are reused by it."""
  args = ["-m", "benchmarks.real_world", f"--dataset={dataset_dir}", f"--workdir={workdir}",
          f"--seeds={','.join(seeds)}", *extra_flags]
  if epochs:
    args.append(f"--config.num_epochs={epochs}")
  command = "python " + " ".join(args)
  log(f"leave one source out: {command}")
  done = subprocess.run([sys.executable, *args], cwd=REPO_ROOT)
  if done.returncode != 0:
    return {"status": f"failed with exit code {done.returncode} (its output is above)",
            "command": command}
  return {"status": "ok", "command": command,
          "table_md": storage.read_text(os.path.join(workdir, "table.md")),
          "table": json.loads(storage.read_text(os.path.join(workdir, "table.json")))}


def _ensure_embedded_default(dataset_dir: str, log: Callable[[str], None]) -> None:
  """Generates and preprocesses the embedded default into dataset_dir when it is missing."""
  from babycry_jax.data import schema
  from preprocess import embedded_media
  if not os.path.exists(os.path.join(dataset_dir, schema.METADATA_FILE)):
    log(f"building the embedded default dataset {dataset_dir}")
    embedded_media.build_dataset(dataset_dir)


FLAGS = flags.FLAGS
flags.DEFINE_string("models", None, f"Comma-separated subset of: {','.join(report_jobs.BY_NAME)} (default: all).")
flags.DEFINE_integer("epochs", None, "Override every config's num_epochs.", lower_bound=1)
flags.DEFINE_string("workdir_root", "runs/reproduce", "Where each model's workdir goes.")
flags.DEFINE_string("out", "benchmarks/reproduction", "Where table.md, results.json and the figure go.")
flags.DEFINE_string("dataset_dir", "data/embedded_default",
                    "Embedded default dataset (built first when missing).")
flags.DEFINE_string("real_audio_dir", "data/real_audio", "Real-audio dataset (built when missing).")
flags.DEFINE_string("shared", str(REPO_ROOT.parent / "shared" / "data"),
                    "Real media folder (default: <repo>/../shared/data).")
flags.DEFINE_bool("no_real_audio", False, "Skip the real-audio table.")
flags.DEFINE_string("real_world_dir", "data/real_world", "Real-world dataset (built when missing).")
flags.DEFINE_list("loso_seeds", ["0", "1", "2"], "Seeds of every leave-one-source-out run.")
flags.DEFINE_bool("no_loso", False, "Skip the leave-one-source-out table (--models skips it too).")


def main(argv: Sequence[str]) -> int:
  if len(argv) > 1:
    print(f"error: unexpected arguments {list(argv[1:])}", file=sys.stderr)
    return 2
  from babycry_jax import console
  console.quiet_libraries()
  models = [m.strip() for m in FLAGS.models.split(",") if m.strip()] if FLAGS.models else None
  try:
    jobs = report_jobs.study_jobs(FLAGS.dataset_dir, models, FLAGS.epochs)
  except ValueError as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  _ensure_embedded_default(FLAGS.dataset_dir, print)
  dataset_dirs = {EMBEDDED: os.path.abspath(FLAGS.dataset_dir)}
  skipped = ""
  if FLAGS.no_real_audio:
    skipped = "real-audio table (--no_real_audio)"
  else:
    if report_jobs.real_audio_models(models):
      try:
        real_dir = _ensure_recipe_dataset(FLAGS.real_audio_dir, FLAGS.shared, "real_audio", print)
      except Exception as e:  # the study table is still worth writing
        print(f"real-audio dataset could not be built: {type(e).__name__}: {e}", file=sys.stderr)
        real_dir = None
        skipped = f"real-audio table (dataset build failed: {e})"
      if real_dir:
        jobs += report_jobs.real_audio_jobs(real_dir, models, FLAGS.epochs)
        dataset_dirs[REAL_AUDIO] = os.path.abspath(real_dir)
      elif not skipped:
        skipped = f"real-audio table ({FLAGS.real_audio_dir} missing and {FLAGS.shared} absent)"
  command = "python -m benchmarks.reproduce " + " ".join(sys.argv[1:])
  results = reproduce(jobs, FLAGS.workdir_root, FLAGS.out, dataset_dirs, command.strip(), skipped)
  if not (FLAGS.no_loso or FLAGS.models or results.get("interrupted")):  # the whole report only
    try:
      real_world_dir = _ensure_recipe_dataset(FLAGS.real_world_dir, FLAGS.shared, "real_world", print)
      why = f"{FLAGS.real_world_dir} missing and {FLAGS.shared}/real_world absent"
    except Exception as e:  # the tables above are still worth writing
      print(f"real-world dataset could not be built: {type(e).__name__}: {e}", file=sys.stderr)
      real_world_dir, why = None, f"dataset build failed: {e}"
    if real_world_dir:
      # The benchmark runs from the repository root: it gets absolute paths.
      results["leave_one_source_out"] = leave_one_source_out(
          os.path.abspath(real_world_dir),
          os.path.abspath(os.path.join(FLAGS.workdir_root, "real_world_loso")), FLAGS.loso_seeds,
          FLAGS.epochs)
    else:
      results["skipped"] = "; ".join(filter(None, [results["skipped"],
                                                   f"leave-one-source-out table ({why})"]))
    report_files.write_outputs(results, FLAGS.out)
  print(report_table.render_markdown(results))
  failed = report_table.failed_rows(results)
  loso_failed = results.get("leave_one_source_out", {}).get("status", "ok") != "ok"
  return 1 if failed or loso_failed or results.get("interrupted") else 0


if __name__ == "__main__":
  from babycry_jax import console
  app.run(main, flags_parser=console.parse_flags)