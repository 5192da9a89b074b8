"""Leave-one-source-out runs on the real-world dataset: what `python -m benchmarks.real_world` does.

For each negative source group (preprocess.real_world_sources.SOURCE_GROUPS, or the
pseudo-group of the recordings whose licence forbids commercial use) a dataset
without that group is written (preprocess.leave_source_out), the config is trained
on it, the threshold that keeps `recall` of the validation cries (babies never
heard in training) is set, and at that threshold the false-alarm rate on every
window of the held-out group, the recall on the test cries and the test F1 are
measured; besides, every run's test F1 at 0.5 and at the F1-best validation threshold and
its ROC-AUC. A first run with nothing held out gives every group's in-distribution
rate. Every run can be repeated per seed (the config's seed replaced); `ensemble`
scores the seeds' runs as one detector. Finished runs are reused, measured again from
their saved scores; a finished run of another config is refused.
"""
from __future__ import annotations

import json
import os
import time

import numpy as np

from babycry_jax import checkpointing, evaluation, metrics, runs, source_report, trainer
from babycry_jax.data import storage
from preprocess import leave_source_out, real_world_sources

ALL = "none"   # the run that holds nothing out


def _predictions(run_dir: str) -> dict:
  """The best checkpoint's scores on validation and test, cached in <run_dir>/../scores.npz."""
  path = os.path.join(os.path.dirname(run_dir), "scores.npz")
  if not os.path.exists(path):
    evaluator = evaluation.Evaluator(runs.load_run(run_dir, "best"))
    arrays = {}
    for split in ("validation", "test"):
      p = evaluator.predict(split)
      arrays.update({f"{split}_ids": np.asarray(p.source_ids), f"{split}_labels": p.labels,
                     f"{split}_scores": p.scores})
    with open(path + ".tmp", "wb") as f:
      np.savez(f, **arrays)
    os.replace(path + ".tmp", path)
  with np.load(path) as z:
    return {k: z[k] for k in z.files}


def measure(held_out: str, seed, predictions: dict, sources: dict, train_s: float,
            recall: float) -> dict:
  """The threshold at `recall` on validation, and the test metrics and false alarms there;
  besides, the test F1 at 0.5 and at the F1-best validation threshold, and the ROC-AUC."""
  validation = predictions["validation_labels"], predictions["validation_scores"]
  threshold = metrics.threshold_at_recall(*validation, recall)
  labels, scores = predictions["test_labels"], predictions["test_scores"]
  groups = [sources[s]["source_group"] for s in predictions["test_ids"]]
  test = metrics.binary_metrics(labels, scores, threshold)
  return {"held_out": held_out, "seed": seed, "recall": recall, "threshold": threshold,
          "train_s": round(train_s, 1), "test_recall": test["recall"], "test_f1": test["f1"],
          "test_precision": test["precision"], "test_windows": test["num_examples"],
          "test_f1_at_half": metrics.binary_metrics(labels, scores, 0.5)["f1"],
          "test_f1_at_best_validation_f1": metrics.binary_metrics(
              labels, scores, metrics.best_f1_threshold(*validation))["f1"],
          "test_roc_auc": test["roc_auc"],
          "false_alarms": source_report.false_alarms_by_group(groups, labels, scores, threshold)}


class RunError(Exception):
  """A run in the workdir that this invocation must not reuse or report."""


def _training_settings(config) -> dict:
  """The config as result.json stores it, less where its dataset lives."""
  settings = json.loads(json.dumps(config.to_dict()))
  for key in ("dataset_dir", "dataset_command"):
    settings.pop(key, None)
  return settings


def _stopped_early(run_dir: str) -> bool:
  """True when the run's last checkpoint is not a validated epoch end (a preemption exit)."""
  ckpt = checkpointing.Checkpointer(run_dir, read_only=True)
  try:
    last = ckpt.latest_step()
  finally:
    ckpt.close()
  with open(os.path.join(run_dir, "metrics.jsonl")) as f:
    validated = {r["step"] for r in map(json.loads, f) if r["kind"] == "val"}
  return last not in validated


def run_group(held_out: str, seed: int, sources: dict, root: str, config, dataset: str,
              recall: float) -> dict:
  """Trains without held_out (or on everything for ALL) and measures it; reuses a finished run
  of the same config (measured again from its scores, at this `recall`), and refuses one of
  another.

  The held-out dataset is written once, in <root>/<held_out>/data, for every seed.
  """
  out = os.path.join(root, held_out, f"seed_{seed}")
  result_path = os.path.join(out, "result.json")
  group_dataset = dataset if held_out == ALL else os.path.join(root, held_out, "data")
  config = config.copy_and_resolve_references()
  config.dataset_dir = group_dataset
  config.seed = seed
  settings = _training_settings(config)
  run_dir = os.path.join(out, "run")
  if os.path.exists(result_path):
    with open(result_path) as f:
      stored = json.load(f)
    if stored.get("config") != settings:
      # A result without its config (an older benchmark's) cannot be told apart either.
      raise RunError(f"{out} holds a run of another config or of an unrecorded one; give "
                     "another --workdir or remove it")
    train_s = stored["train_s"]
    try:
      predictions = _predictions(run_dir)
    except FileNotFoundError as e:
      raise RunError(f"{out} has neither its scores nor its checkpoint to score again ({e}); "
                     "remove it to train it again") from e
  else:
    if held_out != ALL and not os.path.exists(os.path.join(group_dataset, "metadata.json")):
      leave_source_out.write_held_out_dataset(
          dataset, group_dataset, held_out,
          lambda s: (sources[s]["source_group"], sources[s]["category"]))
    if os.path.exists(os.path.join(out, "scores.npz")):
      os.remove(os.path.join(out, "scores.npz"))   # scores of an unfinished earlier training
    started = time.time()
    trainer.train_and_evaluate(config, run_dir)
    train_s = time.time() - started
    if _stopped_early(run_dir):
      raise RunError(f"training of {run_dir} stopped before its last epoch; run the same "
                     "command again to resume it")
    predictions = _predictions(run_dir)
  result = measure(held_out, seed, predictions, sources, train_s, recall)
  storage.write_text(result_path, json.dumps(dict(result, config=settings), indent=1))
  return result


def ensemble(held_out: str, seed_results: list[dict], sources: dict, root: str,
             recall: float) -> dict:
  """The seeds' runs as one detector: their crying probabilities averaged per window."""
  runs = [_predictions(os.path.join(root, held_out, f"seed_{r['seed']}", "run")) for r in seed_results]
  for split in ("validation", "test"):
    if any(not np.array_equal(r[f"{split}_ids"], runs[0][f"{split}_ids"]) for r in runs):
      raise RunError(f"the seeds' runs of {held_out} scored different {split} windows")
  mean = dict(runs[0], **{f"{split}_scores": np.mean([r[f"{split}_scores"] for r in runs], 0)
                          for split in ("validation", "test")})
  return measure(held_out, "ensemble", mean, sources, sum(r["train_s"] for r in seed_results),
                 recall)


def _mean_and_range(values: list[float], fmt: str) -> str:
  """'v' for one value, 'mean (min-max)' for several."""
  mean = sum(values) / len(values)
  if len(values) == 1:
    return format(mean, fmt)
  return f"{mean:{fmt}} ({min(values):{fmt}}–{max(values):{fmt}})"


def table(results: list[dict], recall: float) -> str:
  """Markdown: one row per held-out group, over however many seeds it has finished."""
  by_group: dict[str, list[dict]] = {}
  for r in results:
    by_group.setdefault(r["held_out"], []).append(r)
  seeds = max(len(rs) for rs in by_group.values())
  over = f" (mean and range over {seeds} seeds)" if seeds > 1 else ""
  lines = [f"| held out | threshold (val recall {recall:.0%}) | false alarms on the held-out group{over} "
           "| test cry recall | test F1 | train time |",
           "| --- | ---: | ---: | ---: | ---: | ---: |"]
  for group, rs in by_group.items():
    if group == ALL:
      continue
    fa = [r["false_alarms"][group] for r in rs]
    counts = ", ".join(f"{f['flagged']}" for f in fa) + f" of {fa[0]['windows']}"
    heard = rs[0].get("heard_share", 0.0)
    label = f"{group} (the rest of it; {heard:.0%} of its recordings not held out)" if heard else group
    lines.append(
        f"| {label} | {_mean_and_range([r['threshold'] for r in rs], '.3f')} "
        f"| {_mean_and_range([f['false_alarm_rate'] for f in fa], '.1%')} ({counts}) "
        f"| {_mean_and_range([r['test_recall'] for r in rs], '.3f')} "
        f"| {_mean_and_range([r['test_f1'] for r in rs], '.3f')} "
        f"| {sum(r['train_s'] for r in rs) / len(rs) / 60:.1f} min |")
  everything = by_group.get(ALL, [])
  if len(everything) > 1:
    lines += ["", f"Nothing held out, over {len(everything)} seeds: test F1 "
              f"{_mean_and_range([r['test_f1_at_half'] for r in everything], '.3f')} at 0.5, "
              f"{_mean_and_range([r['test_f1_at_best_validation_f1'] for r in everything], '.3f')}"
              " at the F1-best validation threshold, "
              f"{_mean_and_range([r['test_f1'] for r in everything], '.3f')} at the threshold of "
              f"{recall:.0%} validation recall; ROC-AUC "
              f"{_mean_and_range([r['test_roc_auc'] for r in everything], '.4f')}"]
  for r in everything:
    which = "the ensemble" if r["seed"] == "ensemble" else f"seed {r['seed']}"
    lines += ["", f"Nothing held out, {which} (threshold {r['threshold']:.3f}): "
              f"test F1 {r['test_f1']:.3f}, precision {r['test_precision']:.3f}, recall "
              f"{r['test_recall']:.3f}; test F1 {r['test_f1_at_half']:.3f} at 0.5 and "
              f"{r['test_f1_at_best_validation_f1']:.3f} at the F1-best validation threshold, "
              f"ROC-AUC {r['test_roc_auc']:.4f}; false alarms on the test split per group: "
              + ", ".join(
                  f"{g} {v['false_alarm_rate']:.1%} ({v['flagged']}/{v['windows']})"
                  for g, v in r["false_alarms"].items())]
  return "\n".join(lines)


def held_out_sources(sources: dict, group: str, heard_share: float) -> tuple[dict, dict, str]:
  """(the sources a held-out group's runs see, the tag of their results, their folder under the
  workdir). The pseudo-group NON_COMMERCIAL relabels recordings by licence; a heard share
  leaves part of each group's recordings in the splits (leave_source_out.with_heard_share).

  Raises:
    ValueError: the heard share leaves no recording of the group held out.
  """
  if group == real_world_sources.NON_COMMERCIAL:
    sources = real_world_sources.by_licence(sources)
  if not heard_share:
    return sources, {}, ""
  sources = leave_source_out.with_heard_share(sources, group, heard_share)
  if not any(s["source_group"] == group for s in sources.values()):
    raise ValueError(f"--heard_share={heard_share} leaves no recording of {group} held out")
  return sources, {"heard_share": heard_share}, f"heard{100 * heard_share:g}"


def run_all(config, dataset: str, sources: dict, groups: list[str], seeds: list[int],
            workdir: str, recall: float, heard_share: float = 0.0, include_all: bool = True,
            report=print) -> dict:
  """Every held-out group (and first, with include_all, nothing held out) once per seed, with
  the tables rewritten into <workdir>/table.md and table.json after each group.

  `report(text)` hears the table after each group. Every group's sources are checked before
  the first run starts (held_out_sources raises ValueError).
  """
  plans = {g: held_out_sources(sources, g, heard_share) for g in groups}
  plans = {**({ALL: (sources, {}, "")} if include_all else {}), **plans}
  os.makedirs(workdir, exist_ok=True)
  results, ensembles = [], []
  for held_out, (group_sources, tag, folder) in plans.items():
    root = os.path.join(workdir, folder) if folder else workdir
    group_results = [dict(run_group(held_out, seed, group_sources, root, config, dataset, recall),
                          **tag) for seed in seeds]
    results += group_results
    if len(seeds) > 1:
      ensembles.append(dict(ensemble(held_out, group_results, group_sources, root, recall), **tag))
    text = table(results, recall)
    if ensembles:
      text += ("\n\nThe seeds' runs as one detector, their crying probabilities averaged:\n\n"
               + table(ensembles, recall))
    storage.write_text(os.path.join(workdir, "table.md"), text + "\n")
    storage.write_text(os.path.join(workdir, "table.json"), json.dumps(
        {"recall": recall, "runs": results, "ensembles": ensembles}, indent=1))
    report(text)
  return {"runs": results, "ensembles": ensembles}
