r"""Leave-one-source-out false alarms on the real-world dataset (`python -m benchmarks.real_world`).

  python -m benchmarks.real_world --dataset data/real_world --workdir runs/real_world_loso \
      [--config configs/real_world.py] [--groups music,animals] [--recall 0.9] [--seeds 0,1,2]

For each negative source group (preprocess.real_world_sources.SOURCE_GROUPS) it writes a
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
`--groups non_commercial` holds out the recordings whose licence forbids commercial use
instead: what training without them costs. Finished runs are reused. Writes
<workdir>/table.md and table.json (benchmarks.leave_one_out does the work).
"""
from __future__ import annotations

import os
import sys

from absl import app, flags
from ml_collections import config_flags

from babycry_jax import console
from benchmarks import leave_one_out
from preprocess import real_world, real_world_sources

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", "configs/real_world.py", "Training config of every run.")
flags.DEFINE_string("dataset", "data/real_world", "A dataset built by preprocess.real_world_recipe.")
flags.DEFINE_string("media_dir", None, "Its media dir with sources.csv (default: <dataset>_media).")
flags.DEFINE_string("workdir", "runs/real_world_loso_cnn_pool", "Where datasets, runs and the table go.")
flags.DEFINE_list("groups", list(real_world_sources.SOURCE_GROUPS),
                  f"Source groups to hold out in turn (or {real_world_sources.NON_COMMERCIAL}).")
flags.DEFINE_float("recall", 0.9, "Recall on validation cries that sets each run's threshold.")
flags.DEFINE_bool("include_all", True, "Also train on every group and report test rates.")
flags.DEFINE_list("seeds", ["0"], "Train every run once per seed (config.seed) and average.")
flags.DEFINE_float("heard_share", 0.0, "Share of each held-out group's recordings (per category) "
                   "not held out but left in the dataset's splits; false alarms count the rest.")


def _problems() -> list[str]:
  """What is wrong with the flags, each named."""
  known = list(real_world_sources.SOURCE_GROUPS) + [real_world_sources.NON_COMMERCIAL]
  unknown = sorted(set(FLAGS.groups) - set(known))
  problems = [f"unknown groups {unknown} (choose from {known})"] if unknown else []
  if not 0.0 < FLAGS.recall <= 1.0:
    problems.append(f"--recall={FLAGS.recall} is outside (0, 1]")
  if not 0.0 <= FLAGS.heard_share < 1.0:
    problems.append(f"--heard_share={FLAGS.heard_share} is outside [0, 1)")
  try:
    seeds = [int(s) for s in FLAGS.seeds]
  except ValueError:
    seeds = []
  if not seeds or len(set(seeds)) < len(seeds) or any(not 0 <= s < 2**32 for s in seeds):
    problems.append(f"--seeds={','.join(FLAGS.seeds)} must list distinct integers from 0 to "
                    "2**32 - 1")
  return problems


def main(argv):
  console.quiet_libraries()
  problems = _problems()
  if problems:
    print(f"error: {'; '.join(problems)}", file=sys.stderr)
    return 1
  media_dir = FLAGS.media_dir or f"{os.path.normpath(FLAGS.dataset)}_media"
  try:
    sources = real_world.read_sources(media_dir)
  except FileNotFoundError as e:
    print(f"error: {e}; build the dataset with `python -m preprocess.real_world_recipe`",
          file=sys.stderr)
    return 1
  try:
    leave_one_out.run_all(FLAGS.config, FLAGS.dataset, sources, list(FLAGS.groups),
                          [int(s) for s in FLAGS.seeds], FLAGS.workdir, FLAGS.recall,
                          FLAGS.heard_share, FLAGS.include_all,
                          report=lambda text: print(text, flush=True))
  except (ValueError, leave_one_out.RunError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 1
  return 0


if __name__ == "__main__":
  app.run(main, flags_parser=console.parse_only_flags)
