r"""Leave-one-source-out false alarms on the real-world dataset (`python -m benchmarks.real_world`).

  python -m benchmarks.real_world --dataset data/real_world --workdir runs/real_world_loso \
      [--config configs/real_world.py] [--groups music,animals] [--recall 0.9] [--seeds 0,1,2]

For each negative source group (preprocess.real_world.SOURCE_GROUPS) it writes a
dataset without that group (preprocess.leave_source_out), trains the config on
it, picks the threshold that keeps `--recall` of the validation cries (babies
never heard in training) and measures at that threshold the false-alarm rate on
every window of the held-out group, the recall on the test cries and the test F1.
A first run with nothing held out gives every group's in-distribution rate on
the test split. With several `--seeds` every run is repeated once per seed (the
config's seed replaced): the table gives the mean and the range over seeds, since
one run's false-alarm rate on an unseen group moves by tens of points with the seed.
`--heard_share=0.5` holds out only half of each group's recordings, per category; the other
half stays in the dataset's splits, most of it in train (runs in <workdir>/heard50): what
hearing some of a group is worth against hearing none of it.
Finished runs are reused. Writes <workdir>/table.md and table.json.
"""
from __future__ import annotations

import json
import os
import sys
import time

import numpy as np

from absl import app, flags
from ml_collections import config_flags

from babycry_jax import console, metrics, source_report
from babycry_jax.data import storage
from preprocess import leave_source_out, real_world

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", "configs/real_world.py", "Training config of every run.")
flags.DEFINE_string("dataset", "data/real_world", "A dataset built by preprocess.real_world_recipe.")
flags.DEFINE_string("media_dir", None, "Its media dir with sources.csv (default: <dataset>_media).")
flags.DEFINE_string("workdir", "runs/real_world_loso_cnn_pool", "Where datasets, runs and the table go.")
flags.DEFINE_list("groups", list(real_world.SOURCE_GROUPS), "Source groups to hold out in turn.")
flags.DEFINE_float("recall", 0.9, "Recall on validation cries that sets each run's threshold.")
flags.DEFINE_bool("include_all", True, "Also train on every group and report test rates.")
flags.DEFINE_list("seeds", ["0"], "Train every run once per seed (config.seed) and average.")
flags.DEFINE_float("heard_share", 0.0, "Share of each held-out group's recordings (per category) "
                   "not held out but left in the dataset's splits; false alarms count the rest.")

ALL = "none"   # the run that holds nothing out


def _predictions(run_dir: str) -> dict:
  """The best checkpoint's scores on validation and test, cached in <run_dir>/../scores.npz."""
  path = os.path.join(os.path.dirname(run_dir), "scores.npz")
  if not os.path.exists(path):
    from babycry_jax import evaluation, runs
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


def measure(held_out: str, seed, predictions: dict, sources: dict, train_s: float) -> dict:
  """The threshold at --recall on validation, and the test metrics and false alarms there."""
  threshold = metrics.threshold_at_recall(predictions["validation_labels"],
                                          predictions["validation_scores"], FLAGS.recall)
  labels, scores = predictions["test_labels"], predictions["test_scores"]
  groups = [sources[s]["source_group"] for s in predictions["test_ids"]]
  test = metrics.binary_metrics(labels, scores, threshold)
  return {"held_out": held_out, "seed": seed, "threshold": threshold,
          "train_s": round(train_s, 1), "test_recall": test["recall"], "test_f1": test["f1"],
          "test_precision": test["precision"], "test_windows": test["num_examples"],
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
  from babycry_jax import checkpointing
  ckpt = checkpointing.Checkpointer(run_dir, read_only=True)
  try:
    last = ckpt.latest_step()
  finally:
    ckpt.close()
  with open(os.path.join(run_dir, "metrics.jsonl")) as f:
    validated = {r["step"] for r in map(json.loads, f) if r["kind"] == "val"}
  return last not in validated


def run_group(held_out: str, seed: int, sources: dict, root: str, config) -> dict:
  """Trains without held_out (or on everything for ALL) and measures it; reuses a finished run
  of the same config, and refuses one of another.

  The held-out dataset is written once, in <root>/<held_out>/data, for every seed.
  """
  from babycry_jax import trainer
  out = os.path.join(root, held_out, f"seed_{seed}")
  result_path = os.path.join(out, "result.json")
  dataset = FLAGS.dataset if held_out == ALL else os.path.join(root, held_out, "data")
  config = config.copy_and_resolve_references()
  config.dataset_dir = dataset
  config.seed = seed
  settings = _training_settings(config)
  if os.path.exists(result_path):
    with open(result_path) as f:
      result = json.load(f)
    if result.get("config") != settings:
      # A result without its config (an older benchmark's) cannot be told apart either.
      raise RunError(f"{out} holds a run of another config or of an unrecorded one; give "
                     "another --workdir or remove it")
    result.pop("config", None)
    return result
  if held_out != ALL and not os.path.exists(os.path.join(dataset, "metadata.json")):
    leave_source_out.write_held_out_dataset(
        FLAGS.dataset, dataset, held_out,
        lambda s: (sources[s]["source_group"], sources[s]["category"]))
  run_dir = os.path.join(out, "run")
  if os.path.exists(os.path.join(out, "scores.npz")):
    os.remove(os.path.join(out, "scores.npz"))   # scores of an unfinished earlier training
  started = time.time()
  trainer.train_and_evaluate(config, run_dir)
  train_s = time.time() - started
  if _stopped_early(run_dir):
    raise RunError(f"training of {run_dir} stopped before its last epoch; run the same command "
                   "again to resume it")
  result = measure(held_out, seed, _predictions(run_dir), sources, train_s)
  storage.write_text(result_path, json.dumps(dict(result, config=settings), indent=1))
  return result


def ensemble(held_out: str, seed_results: list[dict], sources: dict, root: str) -> dict:
  """The seeds' runs as one detector: their crying probabilities averaged per window."""
  runs = [_predictions(os.path.join(root, held_out, f"seed_{r['seed']}", "run")) for r in seed_results]
  for split in ("validation", "test"):
    if any(not np.array_equal(r[f"{split}_ids"], runs[0][f"{split}_ids"]) for r in runs):
      raise RunError(f"the seeds' runs of {held_out} scored different {split} windows")
  mean = dict(runs[0], **{f"{split}_scores": np.mean([r[f"{split}_scores"] for r in runs], 0)
                          for split in ("validation", "test")})
  return measure(held_out, "ensemble", mean, sources, sum(r["train_s"] for r in seed_results))


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
  for r in by_group.get(ALL, []):
    which = "the ensemble" if r["seed"] == "ensemble" else f"seed {r['seed']}"
    lines += ["", f"Nothing held out, {which} (threshold {r['threshold']:.3f}): "
              f"test F1 {r['test_f1']:.3f}, precision {r['test_precision']:.3f}, recall "
              f"{r['test_recall']:.3f}; false alarms on the test split per group: " + ", ".join(
                  f"{g} {v['false_alarm_rate']:.1%} ({v['flagged']}/{v['windows']})"
                  for g, v in r["false_alarms"].items())]
  return "\n".join(lines)


def main(argv):
  console.quiet_libraries()
  if len(argv) > 1:
    print(f"error: unexpected arguments {argv[1:]}", file=sys.stderr)
    return 1
  unknown = sorted(set(FLAGS.groups) - set(real_world.SOURCE_GROUPS))
  problems = ([f"unknown groups {unknown} (choose from {list(real_world.SOURCE_GROUPS)})"]
              if unknown else [])
  if not 0.0 < FLAGS.recall <= 1.0:
    problems.append(f"--recall={FLAGS.recall} is outside (0, 1]")
  if not 0.0 <= FLAGS.heard_share < 1.0:
    problems.append(f"--heard_share={FLAGS.heard_share} is outside [0, 1)")
  if problems:
    print(f"error: {'; '.join(problems)}", file=sys.stderr)
    return 1
  try:
    seeds = [int(s) for s in FLAGS.seeds]
  except ValueError:
    seeds = []
  if not seeds or len(set(seeds)) < len(seeds) or any(not 0 <= s < 2**32 for s in seeds):
    print(f"error: --seeds={','.join(FLAGS.seeds)} must list distinct integers from 0 to 2**32 - 1",
          file=sys.stderr)
    return 1
  media_dir = FLAGS.media_dir or f"{os.path.normpath(FLAGS.dataset)}_media"
  try:
    sources = real_world.read_sources(media_dir)
  except FileNotFoundError as e:
    print(f"error: {e}; build the dataset with `python -m preprocess.real_world_recipe`",
          file=sys.stderr)
    return 1
  # Each group's sources with its heard share, checked before any run starts.
  heard_sources = ({g: leave_source_out.with_heard_share(sources, g, FLAGS.heard_share)
                    for g in FLAGS.groups} if FLAGS.heard_share else {})
  for group, group_sources in heard_sources.items():
    if not any(s["source_group"] == group for s in group_sources.values()):
      print(f"error: --heard_share={FLAGS.heard_share} leaves no recording of {group} held out",
            file=sys.stderr)
      return 1
  os.makedirs(FLAGS.workdir, exist_ok=True)
  results, ensembles = [], []
  for held_out in ([ALL] if FLAGS.include_all else []) + list(FLAGS.groups):
    root, group_sources, tag = FLAGS.workdir, sources, {}
    if held_out in heard_sources:
      root = os.path.join(FLAGS.workdir, f"heard{100 * FLAGS.heard_share:g}")
      group_sources, tag = heard_sources[held_out], {"heard_share": FLAGS.heard_share}
    try:
      group_results = [dict(run_group(held_out, seed, group_sources, root, FLAGS.config), **tag)
                       for seed in seeds]
      results += group_results
      if len(seeds) > 1:
        ensembles.append(dict(ensemble(held_out, group_results, group_sources, root), **tag))
    except RunError as e:
      print(f"error: {e}", file=sys.stderr)
      return 1
    text = table(results, FLAGS.recall)
    if ensembles:
      text += ("\n\nThe seeds' runs as one detector, their crying probabilities averaged:\n\n"
               + table(ensembles, FLAGS.recall))
    storage.write_text(os.path.join(FLAGS.workdir, "table.md"), text + "\n")
    storage.write_text(os.path.join(FLAGS.workdir, "table.json"),
                       json.dumps({"recall": FLAGS.recall, "runs": results,
                                   "ensembles": ensembles}, indent=1))
    print(text, flush=True)
  return 0


if __name__ == "__main__":
  app.run(main, flags_parser=console.parse_flags)
