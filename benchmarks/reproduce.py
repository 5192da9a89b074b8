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

import dataclasses
import datetime
import importlib.util
import inspect
import io
import json
import math
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import time
import traceback
from typing import Any, Callable, Optional, Sequence

from absl import app, flags

from babycry_jax.data import storage  # no JAX import: the heavy modules load lazily below

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
EMBEDDED = "embedded_default"
REAL_AUDIO = "real_audio"


class ReportInterrupted(RuntimeError):
  """A training stopped before its last step (SIGTERM): the report stops too, to be resumed."""


@dataclasses.dataclass(frozen=True)
class StudyModel:
  """A model of the comparison: registry name, the study's name and its reported F1."""
  name: str
  label: str
  study_val_f1: Optional[str]   # None: the study gives no number (or did not have it)


STUDY_MODELS = (
    StudyModel("svm", "SVM", "0.845"),
    StudyModel("cnn2", "CNN2", None),
    StudyModel("cnn4", "CNN4", None),
    StudyModel("cnn6", "CNN6", "0.83–0.87"),
    StudyModel("lstm", "LSTM", "0.85"),
    StudyModel("c3d", "3DCNN", "0.82"),
    StudyModel("fusion_cnn_cnn_fc", "CNN+CNN+FC", "0.87"),
    StudyModel("fusion_cnn_3dcnn_fc", "CNN+3DCNN+FC", "0.89"),
    StudyModel("fusion_cnn_cnn_lstm", "CNN+CNN+LSTM", "0.895"),
    StudyModel("fusion_cnn_3dcnn_lstm", "CNN+3DCNN+LSTM", "0.905"),
    StudyModel("fusion_bottleneck", "Bottleneck fusion (ours)", None),
    StudyModel("cnn_pool", "CNN + attention pooling (ours)", None),
    StudyModel("fusion_pool_3dcnn", "CNN + attention pooling + 3DCNN (ours)", None),
    StudyModel("yamnet_cry", "YAMNet fine-tuned (ours)", None),
    StudyModel("fusion_yamnet_3dcnn", "YAMNet + 3DCNN (ours)", None),
)
_BY_NAME = {m.name: m for m in STUDY_MODELS}
# Audio models trained on the real-audio dataset; the LSTM through the recipe's own config.
REAL_AUDIO_CONFIGS = {"svm": "configs/svm.py", "cnn6": "configs/cnn6.py",
                      "lstm": "configs/real_audio.py"}


@dataclasses.dataclass(frozen=True)
class Job:
  """One training run of the report.

  Attributes:
    name: row name, unique within its dataset (also the workdir's name).
    label: the model's name in the table.
    config_path: a config file (relative to the repo root or absolute).
    dataset: EMBEDDED or REAL_AUDIO, the table the row goes to.
    overrides: config fields set after get_config() (dataset_dir, num_epochs, ...).
    study_val_f1: the study's reported validation F1, as text.
  """
  name: str
  label: str
  config_path: str
  dataset: str
  overrides: tuple[tuple[str, Any], ...] = ()
  study_val_f1: Optional[str] = None


def study_jobs(dataset_dir: str, models: Optional[Sequence[str]] = None,
               epochs: Optional[int] = None) -> list[Job]:
  """The study's models (all, or `models`, in study order) on the embedded default."""
  names = [m.name for m in STUDY_MODELS] if models is None else list(models)
  unknown = [n for n in names if n not in _BY_NAME]
  if unknown:
    raise ValueError(f"unknown model(s) {unknown}; choose from {', '.join(_BY_NAME)}")
  overrides: list[tuple[str, Any]] = [("dataset_dir", os.path.abspath(dataset_dir))]
  if epochs:
    overrides.append(("num_epochs", epochs))
  return [Job(n, _BY_NAME[n].label, f"configs/{n}.py", EMBEDDED, tuple(overrides),
              _BY_NAME[n].study_val_f1) for n in names]


def real_audio_jobs(dataset_dir: str, models: Optional[Sequence[str]] = None,
                    epochs: Optional[int] = None) -> list[Job]:
  """The audio models on the real-audio dataset (those of `models` that have one)."""
  names = [n for n in REAL_AUDIO_CONFIGS if models is None or n in models]
  overrides: list[tuple[str, Any]] = [("dataset_dir", os.path.abspath(dataset_dir))]
  if epochs:
    overrides.append(("num_epochs", epochs))
  return [Job(n, _BY_NAME[n].label, REAL_AUDIO_CONFIGS[n], REAL_AUDIO, tuple(overrides),
              _BY_NAME[n].study_val_f1) for n in names]


# ---------------------------------------------------------------- configs and runs

def load_config(job: Job):
  """The job's ConfigDict: the file's get_config() (with the dataset dir when it takes one) + overrides."""
  path = pathlib.Path(job.config_path)
  path = path if path.is_absolute() else REPO_ROOT / path
  if not path.exists():
    raise FileNotFoundError(f"config {path} of {job.name} does not exist")
  spec = importlib.util.spec_from_file_location(f"reproduce_config_{job.dataset}_{job.name}", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  overrides = dict(job.overrides)
  if "dataset_dir" in overrides and inspect.signature(module.get_config).parameters:
    config = module.get_config(overrides["dataset_dir"])
  else:
    config = module.get_config()
  for key, value in job.overrides:
    target = config
    *parents, leaf = key.split(".")
    for parent in parents:
      target = target[parent]
    target[leaf] = value
  return config


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
  from babycry_jax.data import schema
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


def _train_span_s(workdir: str) -> Optional[float]:
  times = [r["time"] for r in read_metrics(workdir) if "time" in r]
  return max(times) - min(times) if len(times) > 1 else None


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
    config = load_config(job)
    row["model"] = config.model
    row["modalities"] = list(getattr(models.get(config.model), "modalities", ("audio", "video")))
    row["config_epochs"] = config.num_epochs
    stage = "training"
    if is_finished(workdir, config):
      log(f"  {job.name}: finished run found in {workdir}, not training again")
      row["trained_now"] = False
    else:
      log(f"  {job.name}: training {config.model} for {config.num_epochs} epochs -> {workdir}")
      started = time.perf_counter()
      trainer.train_and_evaluate(config, workdir)
      if not is_finished(workdir, config):
        raise ReportInterrupted(f"training of {job.name} stopped early (preempted); run the same "
                                "command again to resume")
      row["trained_now"] = True
      row["train_call_s"] = time.perf_counter() - started
    per_epoch = steps_per_epoch(config)
    row["val_curve"] = val_curve(workdir, per_epoch)
    # What the run really did: an earlier, longer report may have trained further.
    row["num_epochs"] = max((e for e, _ in row["val_curve"]), default=0.0)
    row["train_examples_per_s"] = median_examples_per_s(workdir)
    row["train_span_s"] = _train_span_s(workdir)
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


# ---------------------------------------------------------------- outputs

def _num(value: Optional[float], digits: int = 3) -> str:
  if value is None or (isinstance(value, float) and math.isnan(value)):
    return "—"
  return f"{value:.{digits}f}"


def _si(value: Optional[float]) -> str:
  if value is None:
    return "—"
  for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
    if value >= scale:
      return f"{value / scale:.{1 if value / scale < 100 else 0}f}{unit}"
  return f"{value:.0f}"


TABLE_HEADER = ("| model | modalities | test F1 | precision | recall | accuracy | ROC-AUC | "
                "F1 audio only | F1 video only | parameters | FLOPs/example | train ex/s | "
                "epochs (best) | study val F1 |")


def table_rows(rows: Sequence[dict]) -> list[str]:
  """Markdown lines (header, rule, one line per row) of a results table."""
  lines = [TABLE_HEADER, "| --- | --- |" + " ---: |" * 12]
  for r in rows:
    study = r.get("study_val_f1") or "—"
    if r["status"] != "ok":
      cells = [r["label"], "+".join(r.get("modalities", [])) or "—", f"**{r['status']}**"]
      lines.append("| " + " | ".join(cells) + " |" + " |" * 10 + f" {study} |")
      continue
    test = r["test"]
    epochs = f"{r['num_epochs']:g} ({r['best_epoch']:.0f})"
    lines.append("| " + " | ".join([
        r["label"], "+".join(r["modalities"]), _num(test["f1"]), _num(test["precision"]),
        _num(test["recall"]), _num(test["accuracy"]), _num(test["roc_auc"]),
        _num(r.get("test_f1_audio_only")), _num(r.get("test_f1_video_only")),
        f"{r['params']:,}", _si(r["flops_per_example"]),
        _num(r["train_examples_per_s"], 1), epochs, study]) + " |")
  return lines


def dataset_line(dataset_dir: str) -> str:
  from babycry_jax.data import schema
  try:
    splits = schema.read_metadata(dataset_dir)["splits"]
  except FileNotFoundError:
    return f"dataset {dataset_dir}: missing"
  parts = [f"{s} {splits[s]['num_examples']} ({splits[s]['labels']['crying']} crying)"
           for s in ("train", "validation", "test") if s in splits]
  return "clips per split: " + ", ".join(parts)


def render_markdown(results: dict) -> str:
  """table.md: one section per dataset, with notes on what each column means."""
  out = ["# Reproduction of the study", "",
         f"Generated {results['generated']} by `{results['command']}` on {results['machine']}.",
         "Test metrics at threshold 0.5 of the checkpoint with the best validation F1; the study "
         "reported validation F1 on its own data (2500 clips), so its column is a reference, not "
         "a like-for-like number.", ""]
  loso = results.get("leave_one_source_out")
  if loso:
    out += ["## Real recordings: false alarms on sound sources never heard in training", ""]
    if loso["status"] == "ok":
      out += [f"`{loso['command']}`: each source group of negatives held out of training in "
              "turn; its false-alarm rate at the threshold that keeps "
              f"{loso['table']['recall']:.0%} of the validation cries (babies never heard in "
              "training).", "", loso["table_md"].strip(), ""]
    else:
      out += [f"`{loso['command']}`: {loso['status']}", ""]
  titles = {EMBEDDED: "Embedded default dataset (generated audio + video)",
            REAL_AUDIO: "Real audio (Donate-a-cry cries against speech, music and household sounds)"}
  for dataset, section in results["tables"].items():
    out += [f"## {titles.get(dataset, dataset)}", "", section["dataset_line"], ""]
    out += table_rows(section["rows"])
    out.append("")
  out += ["Columns: F1 audio/video only = the fusion model evaluated with the other track hidden "
          "(zeroed and marked missing). FLOPs/example = XLA's cost analysis of one forward pass "
          "(a multiply-add is 2 FLOPs); XLA counts a scanned loop body once, so the LSTM's "
          "300-step recurrence is counted as one step. Train ex/s = median over the run's logged "
          "training intervals on this machine (shared CPU, noisy). Epochs (best) = epochs trained "
          "and the epoch of the evaluated checkpoint.", ""]
  failed = [r for s in results["tables"].values() for r in s["rows"] if r["status"] != "ok"]
  if failed:
    out += ["Failed runs:", ""] + [f"- {r['label']} ({r['dataset']}): {r['status']}" for r in failed]
    out.append("")
  if results.get("interrupted"):
    out += [f"Interrupted: {results['interrupted']}", ""]
  if results.get("skipped"):
    out += [f"Skipped: {results['skipped']}", ""]
  return "\n".join(out)


def plot_f1_vs_epoch(tables: dict, path: str) -> None:
  """PNG of validation F1 per epoch: one line per run, one panel per dataset."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  panels = [(d, s) for d, s in tables.items() if any(r.get("val_curve") for r in s["rows"])]
  if not panels:
    panels = list(tables.items())[:1] or [(EMBEDDED, {"rows": []})]
  fig, axes = plt.subplots(1, len(panels), figsize=(7 * len(panels), 5), squeeze=False)
  colors = plt.get_cmap("tab20").colors   # 11 models: the default 10-colour cycle would repeat
  for ax, (dataset, section) in zip(axes[0], panels):
    for index, r in enumerate(section["rows"]):
      curve = r.get("val_curve") or []
      if curve:
        epochs, f1s = zip(*curve)
        ax.plot(epochs, f1s, marker="os^Dv"[index % 5], markersize=3.5, label=r["label"],
                color=colors[(2 * index) % 20 + (index >= 10)])
    ax.set_title(dataset.replace("_", " "))
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation F1")
    ax.set_ylim(0.0, 1.02)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
      ax.legend(fontsize=8, loc="lower right")
  fig.tight_layout()
  png = io.BytesIO()
  fig.savefig(png, format="png", dpi=110)
  plt.close(fig)
  storage.write_bytes(path, png.getvalue())


def write_outputs(results: dict, out_dir: str) -> dict[str, str]:
  """Writes table.md, results.json and f1_vs_epoch.png; returns their paths."""
  os.makedirs(out_dir, exist_ok=True)
  paths = {name: os.path.join(out_dir, name) for name in ("table.md", "results.json", "f1_vs_epoch.png")}
  slim = json.loads(json.dumps(results, default=float))
  for section in slim["tables"].values():
    for r in section["rows"]:
      r.pop("traceback", None)   # kept on the console; too long for the results file
  storage.write_text(paths["results.json"], json.dumps(slim, indent=2) + "\n")
  storage.write_text(paths["table.md"], render_markdown(results))
  plot_f1_vs_epoch(results["tables"], paths["f1_vs_epoch.png"])
  return paths


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
      write_outputs(results, out_dir)
      break
    row["wall_s"] = time.perf_counter() - job_started
    if row["status"] == "ok":
      log(f"  {job.name}: test F1 {row['test']['f1']:.4f}, {row['wall_s']:.0f} s")
    section = results["tables"].setdefault(
        job.dataset, {"dataset_dir": dataset_dirs.get(job.dataset, ""), "rows": []})
    section["rows"].append(row)
    for dataset, s in results["tables"].items():
      s["dataset_line"] = dataset_line(s["dataset_dir"]) if s["dataset_dir"] else ""
    results["total_wall_s"] = time.perf_counter() - started
    write_outputs(results, out_dir)
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
flags.DEFINE_string("models", None, f"Comma-separated subset of: {','.join(_BY_NAME)} (default: all).")
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
    jobs = study_jobs(FLAGS.dataset_dir, models, FLAGS.epochs)
  except ValueError as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  _ensure_embedded_default(FLAGS.dataset_dir, print)
  dataset_dirs = {EMBEDDED: os.path.abspath(FLAGS.dataset_dir)}
  skipped = ""
  if FLAGS.no_real_audio:
    skipped = "real-audio table (--no_real_audio)"
  else:
    wanted = [n for n in REAL_AUDIO_CONFIGS if models is None or n in models]
    if wanted:
      try:
        real_dir = _ensure_recipe_dataset(FLAGS.real_audio_dir, FLAGS.shared, "real_audio", print)
      except Exception as e:  # the study table is still worth writing
        print(f"real-audio dataset could not be built: {type(e).__name__}: {e}", file=sys.stderr)
        real_dir = None
        skipped = f"real-audio table (dataset build failed: {e})"
      if real_dir:
        jobs += real_audio_jobs(real_dir, models, FLAGS.epochs)
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
    write_outputs(results, FLAGS.out)
  print(render_markdown(results))
  failed = [r for s in results["tables"].values() for r in s["rows"] if r["status"] != "ok"]
  loso_failed = results.get("leave_one_source_out", {}).get("status", "ok") != "ok"
  return 1 if failed or loso_failed or results.get("interrupted") else 0


if __name__ == "__main__":
  from babycry_jax import console
  app.run(main, flags_parser=console.parse_flags)
