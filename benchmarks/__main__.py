"""Runs the benchmark suite on this machine and writes one results file per benchmark.

    python -m benchmarks [--only train,hw,input,preprocess,detect] [--quick] [--output_dir DIR]
    python -m benchmarks --table [--output_dir DIR]

Every figure is a ratio against a baseline measured in the same run, because
the machine is shared and its speed drifts. The TensorFlow baselines run in a
separate venv (benchmarks/tf_env.py), created on first use. Each benchmark run
replaces its own file, DIR/<benchmark>.json (default benchmarks/results/), and
leaves the others. The markdown table printed at the end (machine, date, one
row per measurement, goal met or not) holds this run's rows; --table prints the
one of every file in DIR, which docs/benchmarks.md carries.
"""
from __future__ import annotations

import sys
from typing import Sequence

from absl import app, flags

from benchmarks import results_files, results_table, suite_run, suites

FLAGS = flags.FLAGS
flags.DEFINE_list("only", list(suites.NAMES), f"Subset of {','.join(suites.NAMES)}.")
flags.DEFINE_bool("quick", False, "Few steps and small inputs: a smoke run.")
flags.DEFINE_string("output_dir", results_files.DEFAULT_DIR,
                    "Where each benchmark's results file (<benchmark>.json) goes; empty: none is written.")
flags.DEFINE_bool("table", False, "Print the markdown table of every results file in --output_dir; run nothing.")


def print_table(output_dir: str) -> int:
  results = results_files.read_all(output_dir) if output_dir else []
  if not results:
    print(f"error: no results files in {output_dir!r}", file=sys.stderr)
    return 1
  print(results_table.markdown_table(results))
  return 0


def main(argv: Sequence[str]) -> int:
  if FLAGS.table:
    return print_table(FLAGS.output_dir)
  only = [b.strip() for b in FLAGS.only if b.strip()]
  try:
    run = suite_run.run_suite(only, FLAGS.quick, FLAGS.output_dir,
                              " ".join(["python -m benchmarks"] + sys.argv[1:]),
                              log=lambda s: print(s, flush=True))
  except ValueError as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  print()
  print(results_table.markdown_table(list(run["suites"].values())))
  print()
  for name, result in run["suites"].items():
    print(f"profile_notes ({name}):", result["profile_notes"])
  for path in run["written"]:
    print(f"results written to {path}")
  return 1 if run["errors"] else 0


if __name__ == "__main__":
  from babycry_jax import console
  app.run(main, flags_parser=console.parse_only_flags)
