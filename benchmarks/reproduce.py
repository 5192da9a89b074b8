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

import sys
from typing import Sequence

from absl import app, flags

from babycry_jax import console
from benchmarks import report_jobs, report_table
from preprocess import recipe_flags

FLAGS = flags.FLAGS
flags.DEFINE_string("models", None,
                    f"Comma-separated subset of: {','.join(report_jobs.BY_NAME)} (default: all).")
flags.DEFINE_integer("epochs", None, "Override every config's num_epochs.", lower_bound=1)
flags.DEFINE_string("workdir_root", "runs/reproduce", "Where each model's workdir goes.")
flags.DEFINE_string("out", "benchmarks/reproduction", "Where table.md, results.json and the figure go.")
flags.DEFINE_string("dataset_dir", "data/embedded_default",
                    "Embedded default dataset (built first when missing).")
flags.DEFINE_string("real_audio_dir", "data/real_audio", "Real-audio dataset (built when missing).")
flags.DEFINE_string("shared", str(recipe_flags.default_shared_dir()),
                    "Real media folder (default: <repo>/../shared/data).")
flags.DEFINE_bool("no_real_audio", False, "Skip the real-audio table.")
flags.DEFINE_string("real_world_dir", "data/real_world", "Real-world dataset (built when missing).")
flags.DEFINE_list("loso_seeds", ["0", "1", "2"], "Seeds of every leave-one-source-out run.")
flags.DEFINE_bool("no_loso", False, "Skip the leave-one-source-out table (--models skips it too).")


def main(argv: Sequence[str]) -> int:
  console.quiet_libraries()
  models = [m.strip() for m in FLAGS.models.split(",") if m.strip()] if FLAGS.models else None
  try:
    report_jobs.check_models(models)
  except ValueError as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  # Imported here, not at the top: it loads JAX, and the embedded default's clip workers
  # are spawned processes that import this module again and need none of it.
  from benchmarks import study_report
  command = "python -m benchmarks.reproduce " + " ".join(sys.argv[1:])
  results = study_report.reproduce_study(study_report.StudyOptions(
      models=models, epochs=FLAGS.epochs, dataset_dir=FLAGS.dataset_dir,
      workdir_root=FLAGS.workdir_root, out_dir=FLAGS.out, command=command.strip(),
      shared_dir=FLAGS.shared, real_audio=not FLAGS.no_real_audio,
      real_audio_dir=FLAGS.real_audio_dir, loso=not FLAGS.no_loso,
      real_world_dir=FLAGS.real_world_dir, loso_seeds=FLAGS.loso_seeds))
  print(report_table.render_markdown(results))
  loso_failed = results.get("leave_one_source_out", {}).get("status", "ok") != "ok"
  return 1 if report_table.failed_rows(results) or loso_failed or results.get("interrupted") else 0


if __name__ == "__main__":
  app.run(main, flags_parser=console.parse_only_flags)
