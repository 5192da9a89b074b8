r"""Evaluates a checkpoint of a run on a split of its dataset.

  python -m babycry_jax.evaluate --workdir runs/default [--split test] [--checkpoint best]
      [--modalities both,audio,video]
  python -m babycry_jax.evaluate --compare runs/svm runs/fusion [--split test]

Writes W/eval/<split>/ (see babycry_jax.evaluation). Exit status 0 when
evaluated, 1 on bad input (a missing workdir, split or checkpoint, a bad flag).
"""
from __future__ import annotations

import sys

from absl import app, flags

from babycry_jax import console, evaluation

log = console.logger()

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Training workdir to evaluate.")
flags.DEFINE_string("split", "test", "Dataset split(s), comma-separated: train, validation, test.")
flags.DEFINE_string("checkpoint", "best", "best, latest or a step number.")
flags.DEFINE_string("modalities", "both",
                    "Comma-separated settings: both, audio (video hidden), video (audio hidden).")
flags.DEFINE_bool("compare", False, "Print one markdown table across the workdirs given as arguments.")


def main(argv):
  console.quiet_libraries()
  try:
    if FLAGS.compare:
      workdirs = list(argv[1:]) + ([FLAGS.workdir] if FLAGS.workdir else [])
      print(evaluation.compare(workdirs, FLAGS.split, FLAGS.checkpoint))
      return
    if len(argv) > 1:
      raise ValueError(f"unexpected arguments {argv[1:]}; did you mean --compare?")
    if not FLAGS.workdir:
      raise ValueError("--workdir is required (or --compare W1 W2 ...)")
    splits = [name.strip() for name in FLAGS.split.split(",") if name.strip()]
    evaluation.evaluate(FLAGS.workdir, splits, FLAGS.checkpoint,
                        evaluation.parse_modalities(FLAGS.modalities))
  except (FileNotFoundError, ValueError) as e:
    log.error("error: %s", e)
    sys.exit(1)


if __name__ == "__main__":
  app.run(main, flags_parser=console.parse_flags)
