r"""Leave-one-source-out false alarms on the real-world dataset (`python -m benchmarks.real_world`).

  python -m benchmarks.real_world --dataset data/real_world --workdir runs/real_world_loso \
      [--config configs/real_world.py] [--groups music,animals] [--recall 0.9]

For each negative source group (preprocess.real_world.SOURCE_GROUPS) it writes a
dataset without that group (preprocess.leave_source_out), trains the config on
it, picks the threshold that keeps `--recall` of the validation cries (babies
never heard in training) and measures at that threshold the false-alarm rate on
every window of the held-out group, the recall on the test cries and the test F1.
A first run with nothing held out gives every group's in-distribution rate on
the test split. Finished runs are reused. Writes <workdir>/table.md and table.json.
"""
from __future__ import annotations

import json
import os
import sys
import time

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

ALL = "none"   # the run that holds nothing out


def _scores(workdir: str, split: str):
  from babycry_jax import evaluation, runs
  predictions = evaluation.Evaluator(runs.load_run(workdir, "best")).predict(split)
  return predictions.source_ids, predictions.labels, predictions.scores


def run_group(held_out: str, sources: dict, root: str, config) -> dict:
  """Trains without held_out (or on everything for ALL) and measures it; reuses a finished run."""
  from babycry_jax import trainer
  out = os.path.join(root, held_out)
  result_path = os.path.join(out, "result.json")
  if os.path.exists(result_path):
    return json.loads(open(result_path).read())
  dataset = FLAGS.dataset
  if held_out != ALL:
    dataset = os.path.join(out, "data")
    if not os.path.exists(os.path.join(dataset, "metadata.json")):
      leave_source_out.write_held_out_dataset(
          FLAGS.dataset, dataset, held_out,
          lambda s: (sources[s]["source_group"], sources[s]["category"]))
  config = config.copy_and_resolve_references()
  config.dataset_dir = dataset
  started = time.time()
  trainer.train_and_evaluate(config, os.path.join(out, "run"))
  train_s = time.time() - started
  _, val_labels, val_scores = _scores(os.path.join(out, "run"), "validation")
  threshold = metrics.threshold_at_recall(val_labels, val_scores, FLAGS.recall)
  ids, labels, scores = _scores(os.path.join(out, "run"), "test")
  groups = [sources[s]["source_group"] for s in ids]
  test = metrics.binary_metrics(labels, scores, threshold)
  result = {"held_out": held_out, "threshold": threshold, "train_s": round(train_s, 1),
            "test_recall": test["recall"], "test_f1": test["f1"], "test_precision": test["precision"],
            "test_windows": test["num_examples"],
            "false_alarms": source_report.false_alarms_by_group(groups, labels, scores, threshold)}
  storage.write_text(result_path, json.dumps(result, indent=1))
  return result


def table(results: list[dict], recall: float) -> str:
  lines = [f"| held out | threshold (val recall {recall:.0%}) | false alarms on the held-out group "
           "| test cry recall | test F1 | train time |",
           "| --- | ---: | ---: | ---: | ---: | ---: |"]
  for r in results:
    if r["held_out"] == ALL:
      continue
    fa = r["false_alarms"][r["held_out"]]
    lines.append(f"| {r['held_out']} | {r['threshold']:.3f} | {fa['false_alarm_rate']:.1%} "
                 f"({fa['flagged']}/{fa['windows']}) | {r['test_recall']:.3f} | {r['test_f1']:.3f} "
                 f"| {r['train_s'] / 60:.1f} min |")
  for r in results:
    if r["held_out"] == ALL:
      lines += ["", f"Nothing held out (threshold {r['threshold']:.3f}): test F1 {r['test_f1']:.3f}, "
                f"precision {r['test_precision']:.3f}, recall {r['test_recall']:.3f}; false alarms "
                "on the test split per group: " + ", ".join(
                    f"{g} {v['false_alarm_rate']:.1%} ({v['flagged']}/{v['windows']})"
                    for g, v in r["false_alarms"].items())]
  return "\n".join(lines)


def main(argv):
  console.quiet_libraries()
  if len(argv) > 1:
    print(f"error: unexpected arguments {argv[1:]}", file=sys.stderr)
    return 1
  unknown = sorted(set(FLAGS.groups) - set(real_world.SOURCE_GROUPS))
  if unknown or not 0.0 < FLAGS.recall <= 1.0:
    print(f"error: unknown groups {unknown} (choose from {list(real_world.SOURCE_GROUPS)}) or "
          f"--recall={FLAGS.recall} outside (0, 1]", file=sys.stderr)
    return 1
  media_dir = FLAGS.media_dir or f"{os.path.normpath(FLAGS.dataset)}_media"
  try:
    sources = real_world.read_sources(media_dir)
  except FileNotFoundError as e:
    print(f"error: {e}; build the dataset with `python -m preprocess.real_world_recipe`",
          file=sys.stderr)
    return 1
  os.makedirs(FLAGS.workdir, exist_ok=True)
  results = []
  for held_out in ([ALL] if FLAGS.include_all else []) + list(FLAGS.groups):
    results.append(run_group(held_out, sources, FLAGS.workdir, FLAGS.config))
    text = table(results, FLAGS.recall)
    storage.write_text(os.path.join(FLAGS.workdir, "table.md"), text + "\n")
    storage.write_text(os.path.join(FLAGS.workdir, "table.json"), json.dumps(results, indent=1))
    print(text, flush=True)
  return 0


if __name__ == "__main__":
  app.run(main, flags_parser=console.parse_flags)
