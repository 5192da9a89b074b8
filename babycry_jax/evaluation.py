"""Evaluation of a checkpoint of a run on splits of its dataset (`python -m babycry_jax.evaluate`).

Rebuilds the model from the config saved in the workdir, restores the chosen
checkpoint and writes to W/eval/<split>/:
  metrics.json      metrics at threshold 0.5 (top level) and at the F1-best
                    threshold chosen on the validation split ("at_val_best_threshold")
  predictions.csv   clip_id, source_id, label, score for every clip of the split
  roc.png, pr.png, confusion.png, score_hist.png
With --modalities, each setting other than "both" hides one track of every clip
(audio: video hidden; video: audio hidden) and writes the same files with a
suffix (metrics_audio_only.json, ...) plus modalities.md, a table of all settings.
"""
from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
from typing import Any, Sequence

import jax
import numpy as np

from babycry_jax import console, forward, metrics, plots, strategies
from babycry_jax import input_pipeline as ip
from babycry_jax.data import schema, storage
from babycry_jax.train_step import build_eval_step
from babycry_jax.runs import Run, load_run, resolve_step

log = console.logger()

EVAL_DIR = "eval"
VALIDATION = "validation"
DEFAULT_THRESHOLD = 0.5
PREDICTION_FIELDS = ("clip_id", "source_id", "label", "score")

# Modality settings: the track each one hides, and the suffix of its output files.
MODALITY_SETTINGS = {"both": None, "audio": "video", "video": "audio"}
_SUFFIX = {"both": "", "audio": "_audio_only", "video": "_video_only"}


def hide_modality(inputs: dict[str, Any], hidden: str | None) -> dict[str, Any]:
  """Model inputs (one example or a batch) with a track marked missing and zeroed.

  Zeros are what the decoder gives a clip that really lacks the track, so the
  model sees exactly a missing modality.
  """
  if hidden is None:
    return inputs
  if hidden not in schema.MODALITY_INPUTS:
    raise ValueError(f"can hide 'audio' or 'video', not {hidden!r}")
  out = dict(inputs)
  for key in schema.MODALITY_INPUTS[hidden]:
    if key in inputs:  # a model reads only some of a track's features
      out[key] = np.zeros_like(inputs[key])
  return out


@dataclasses.dataclass
class SplitPredictions:
  """Every clip of a split in stored order: ids, true labels [N] and crying scores [N]."""
  clip_ids: list[str]
  source_ids: list[str]
  labels: np.ndarray
  scores: np.ndarray
  loss: float

  def rows(self) -> list[dict[str, Any]]:
    return [{"clip_id": c, "source_id": s, "label": int(y), "score": float(p)}
            for c, s, y, p in zip(self.clip_ids, self.source_ids, self.labels, self.scores)]


_P_EVAL_STEPS: dict[tuple[str, str], Any] = {}


class Evaluator:
  """Scores splits of a run's dataset with one compiled eval step."""

  def __init__(self, run: Run):
    self.run = run
    # The strategy the run trained with (runs saved before it was a field used pmap).
    name = run.config.get("parallel", "pmap")
    self._strategy = strategies.create(name)
    # One wrapped step per loss, so evaluating several runs or splits compiles once per model.
    key = (name, run.config.loss)
    if key not in _P_EVAL_STEPS:
      _P_EVAL_STEPS[key] = build_eval_step(run.config.loss, self._strategy)
    self._p_eval = _P_EVAL_STEPS[key]
    self._state = self._strategy.replicate(run.state)
    # The batch validation used while training (runs saved before the field had none),
    # rounded up to fill every device here: padding examples count for nothing.
    batch = run.config.get("eval_batch_size", 0) or run.config.batch_size
    self.batch_size = -(-batch // jax.device_count()) * jax.device_count()
    self._splits: dict[str, ip.Split] = {}
    self._cache: dict[tuple[str, str], SplitPredictions] = {}

  def _split(self, split: str) -> ip.Split:
    if split not in self._splits:
      self._splits[split] = ip.Split(self.run.config.dataset_dir, split,
                                     self.run.config.audio_frames, self.run.config.video_frames)
    return self._splits[split]

  def predict(self, split: str, modality: str = "both") -> SplitPredictions:
    """Scores every clip of `split` with the tracks of `modality` visible."""
    key = (split, modality)
    if key not in self._cache:
      data = self._split(split)
      if len(data) == 0:
        raise ValueError(f"split {split!r} of {self.run.config.dataset_dir} has no examples")
      hidden = MODALITY_SETTINGS[modality]
      result, labels, scores = forward.score_split(
          self._strategy, self._p_eval, self._state,
          (hide_modality(b, hidden) for b in data.eval_batches(self.batch_size)))
      records = [data.example(i) for i in range(len(data))]
      self._cache[key] = SplitPredictions(
          clip_ids=[r["clip_id"].decode() for r in records],
          source_ids=[r["source_id"].decode() for r in records],
          labels=labels.astype(np.int64), scores=scores.astype(np.float64),
          loss=float(result["loss"]))
    return self._cache[key]


def write_predictions_csv(path: str, predictions: SplitPredictions) -> None:
  buffer = io.StringIO()
  writer = csv.DictWriter(buffer, fieldnames=list(PREDICTION_FIELDS))
  writer.writeheader()
  writer.writerows(predictions.rows())
  storage.write_text(path, buffer.getvalue())


def read_predictions_csv(path: str) -> tuple[np.ndarray, np.ndarray]:
  """(labels [N], scores [N]) of a predictions.csv."""
  rows = list(csv.DictReader(io.StringIO(storage.read_text(path), newline="")))
  return (np.array([int(r["label"]) for r in rows], np.int64),
          np.array([float(r["score"]) for r in rows], np.float64))


def _json_safe(value: Any) -> Any:
  """NaN (AUC of a one-class split) as null, since JSON has no NaN."""
  if isinstance(value, float) and math.isnan(value):
    return None
  if isinstance(value, dict):
    return {k: _json_safe(v) for k, v in value.items()}
  if isinstance(value, list):
    return [_json_safe(v) for v in value]
  return value


def metrics_file(modality: str = "both") -> str:
  return f"metrics{_SUFFIX[modality]}.json"


def evaluate_setting(evaluator: Evaluator, split: str, out_dir: str,
                     modality: str = "both") -> dict:
  """Metrics of one split under one modality setting; writes its files into out_dir."""
  run = evaluator.run
  test = evaluator.predict(split, modality)
  val = evaluator.predict(VALIDATION, modality)
  val_threshold = metrics.best_f1_threshold(val.labels, val.scores)
  at_half = metrics.binary_metrics(test.labels, test.scores, DEFAULT_THRESHOLD)
  at_val_best = metrics.binary_metrics(test.labels, test.scores, val_threshold)
  at_val_best["chosen_on"] = VALIDATION
  at_val_best["validation_f1"] = metrics.binary_metrics(val.labels, val.scores, val_threshold)["f1"]
  result = {
      "split": split, "checkpoint_step": run.step, "model": run.config.model,
      "modalities": modality, "hidden_modality": MODALITY_SETTINGS[modality],
      **at_half, "loss": test.loss, "at_val_best_threshold": at_val_best,
  }
  if split == VALIDATION:
    result["at_val_best_threshold"]["note"] = "threshold chosen on the evaluated split itself"

  suffix = _SUFFIX[modality]
  write_predictions_csv(storage.join(out_dir, f"predictions{suffix}.csv"), test)
  thresholds = {"0.5": DEFAULT_THRESHOLD, "val F1-best": val_threshold}
  plots.roc_png(storage.join(out_dir, f"roc{suffix}.png"), test.labels, test.scores, thresholds)
  plots.pr_png(storage.join(out_dir, f"pr{suffix}.png"), test.labels, test.scores, thresholds)
  plots.confusion_png(storage.join(out_dir, f"confusion{suffix}.png"), {
      "threshold 0.5": at_half["confusion_matrix"],
      f"val F1-best threshold {val_threshold:.3f}": at_val_best["confusion_matrix"]},
      schema.LABELS)
  plots.score_histogram_png(storage.join(out_dir, f"score_hist{suffix}.png"),
                            test.labels, test.scores, thresholds)
  # metrics.json last: its presence means the setting's files are complete.
  storage.write_text(storage.join(out_dir, metrics_file(modality)),
                     json.dumps(_json_safe(result), indent=2))
  return result


def parse_modalities(text: str) -> list[str]:
  settings = [m.strip() for m in text.split(",") if m.strip()]
  unknown = [m for m in settings if m not in MODALITY_SETTINGS]
  if unknown or not settings:
    raise ValueError(f"--modalities {text!r}: choose from {', '.join(MODALITY_SETTINGS)}")
  return list(dict.fromkeys(settings))


def _fmt(value: Any) -> str:
  return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4f}"


def modality_table(results: dict[str, dict | str]) -> str:
  """Markdown table of one checkpoint under each modality setting ({setting: metrics | reason})."""
  lines = ["| modalities | F1 | precision | recall | accuracy | ROC-AUC | PR-AUC | "
           "F1 @ val threshold | val threshold |",
           "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
  for setting, r in results.items():
    name = {"both": "audio + video", "audio": "audio only", "video": "video only"}[setting]
    if isinstance(r, str):
      lines.append(f"| {name} | {r} |" + " |" * 7)
      continue
    best = r["at_val_best_threshold"]
    lines.append(f"| {name} | {_fmt(r['f1'])} | {_fmt(r['precision'])} | {_fmt(r['recall'])} | "
                 f"{_fmt(r['accuracy'])} | {_fmt(r['roc_auc'])} | {_fmt(r['pr_auc'])} | "
                 f"{_fmt(best['f1'])} | {_fmt(best['threshold'])} |")
  return "\n".join(lines)


def _evaluate_split(evaluator: Evaluator, workdir: str, split: str,
                    modalities: Sequence[str]) -> dict:
  run = evaluator.run
  out_dir = storage.join(workdir, EVAL_DIR, split)
  storage.makedirs(out_dir)
  results: dict[str, dict | str] = {}
  for setting in modalities:
    hidden = MODALITY_SETTINGS[setting]
    if hidden is not None and set(run.modalities) <= {hidden}:
      reason = f"skipped: {run.config.model} reads only {'+'.join(run.modalities)}"
      log.warning("modality setting %r %s", setting, reason)
      results[setting] = reason
      continue
    r = evaluate_setting(evaluator, split, out_dir, setting)
    results[setting] = r
    best = r["at_val_best_threshold"]
    log.info("%s on %s (step %d, %d clips, %s): f1 %.4f acc %.4f precision %.4f recall %.4f "
             "roc_auc %.4f pr_auc %.4f | at val-best threshold %.3f: f1 %.4f -> %s",
             run.config.model, split, run.step, r["num_examples"], setting, r["f1"],
             r["accuracy"], r["precision"], r["recall"], r["roc_auc"], r["pr_auc"],
             best["threshold"], best["f1"], storage.join(out_dir, metrics_file(setting)))
  if len(modalities) > 1:
    table = modality_table(results)
    storage.write_text(storage.join(out_dir, "modalities.md"), table + "\n")
    print(f"{run.config.model} (step {run.step}) on {split}:\n{table}")
  first = next((r for r in results.values() if isinstance(r, dict)), None)
  if first is None:
    raise ValueError(f"no modality setting of {list(modalities)} can be evaluated for "
                     f"{run.config.model}, which reads {list(run.modalities)}")
  if len(modalities) > 1:
    first = dict(first, by_modality=results)
  return first


def evaluate(workdir: str, split: str | Sequence[str] = "test", checkpoint: str = "best",
             modalities: Sequence[str] = ("both",)) -> dict:
  """Evaluates a checkpoint on one split (or several, restoring the model once).

  Returns the metrics of the first split's first modality setting; all
  settings' metrics are under result["by_modality"] when more than one is
  asked for, and every split's under result["by_split"] for several splits.
  """
  splits = [split] if isinstance(split, str) else list(split)
  if not splits:
    raise ValueError("no split to evaluate")
  for setting in modalities:
    if setting not in MODALITY_SETTINGS:
      raise ValueError(f"unknown modality setting {setting!r}; choose from {list(MODALITY_SETTINGS)}")
  evaluator = Evaluator(load_run(workdir, checkpoint))
  by_split = {name: _evaluate_split(evaluator, workdir, name, modalities) for name in splits}
  first = by_split[splits[0]]
  return dict(first, by_split=by_split) if len(splits) > 1 else first


def compare(workdirs: Sequence[str], split: str = "test", checkpoint: str = "best") -> str:
  """Markdown table across runs; evaluates runs whose metrics.json is missing or stale."""
  if not workdirs:
    raise ValueError("--compare needs at least one workdir")
  lines = ["| run | model | checkpoint step | split | F1 | precision | recall | accuracy | "
           "ROC-AUC | PR-AUC | F1 @ val threshold |",
           "| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
  for workdir in workdirs:
    path = storage.join(workdir, EVAL_DIR, split, metrics_file())
    step = resolve_step(workdir, checkpoint)
    r = None
    if storage.exists(path):
      r = json.loads(storage.read_text(path))
      if r.get("checkpoint_step") != step or "at_val_best_threshold" not in r:
        r = None  # written for another checkpoint, or by an older version
    if r is None:
      log.info("evaluating %s (step %d) on %s", workdir, step, split)
      r = evaluate(workdir, split, str(step))
    best = r.get("at_val_best_threshold", {})
    name = storage.basename(workdir)
    lines.append(f"| {name} | {r['model']} | {r['checkpoint_step']} | {r['split']} | "
                 f"{_fmt(r['f1'])} | {_fmt(r['precision'])} | {_fmt(r['recall'])} | "
                 f"{_fmt(r['accuracy'])} | {_fmt(r.get('roc_auc'))} | {_fmt(r.get('pr_auc'))} | "
                 f"{_fmt(best.get('f1'))} |")
  return "\n".join(lines)
