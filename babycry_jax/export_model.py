r"""Ships a trained run inside the package (`python -m babycry_jax.export_model`).

  python -m babycry_jax.export_model --workdir runs/rw_cnn_pool --name real_world_cnn_pool \
      [--sample_size 16] [--info JSON] [--output_dir DIR]

Writes babycry_jax/pretrained/<name>/ (see babycry_jax.shipped_model): the best
checkpoint's variables, its config, the decoder's stats, the F1-best threshold on
the validation split with the metrics there, every validation prediction and a few
validation clips for a test to rerun.
"""
from __future__ import annotations

import json
import os
import sys

from absl import app, flags

from babycry_jax import console, evaluation, runs, shipped_model

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Training workdir whose best checkpoint is shipped.")
flags.DEFINE_string("name", None, "Folder name under babycry_jax/pretrained (a model shipped "
                    "in the package; give this or --output_dir).")
flags.DEFINE_integer("sample_size", 16, "Validation clips kept with their features.", lower_bound=2)
flags.DEFINE_string("info", "", "JSON object of extra fields for model.json (sources, licences).")
flags.DEFINE_string("output_dir", None, "Write the model folder here instead of "
                    "babycry_jax/pretrained/<name> (detect reads it with --shipped_model=DIR).")
flags.mark_flags_as_required(["workdir"])


def main(argv):
  console.quiet_libraries()
  if bool(FLAGS.name) == bool(FLAGS.output_dir):
    print("error: give either --name (a model in the package) or --output_dir", file=sys.stderr)
    return 1
  try:
    info = json.loads(FLAGS.info) if FLAGS.info else {}
    run = runs.load_run(FLAGS.workdir, "best")
  except (FileNotFoundError, ValueError) as e:
    print(f"error: {' '.join(str(e).split())}", file=sys.stderr)
    return 1
  validation = evaluation.Evaluator(run).predict(evaluation.VALIDATION)
  out_dir = FLAGS.output_dir or os.path.join(shipped_model.PRETRAINED_DIR, FLAGS.name)
  written = shipped_model.export(run, out_dir, validation, FLAGS.sample_size, info)
  m = written["validation_metrics"]
  print(f"{out_dir}: {written['model']} step {written['checkpoint_step']}, threshold "
        f"{written['threshold']:.4f}; validation f1 {m['f1']:.4f} precision {m['precision']:.4f} "
        f"recall {m['recall']:.4f} roc_auc {m['roc_auc']:.4f}")
  return 0


if __name__ == "__main__":
  app.run(main, flags_parser=console.parse_only_flags)
