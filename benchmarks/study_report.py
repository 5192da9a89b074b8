"""The whole reproduction report: its datasets, its runs, the leave-one-source-out table, its files."""
from __future__ import annotations

import dataclasses
import os
from typing import Callable, Optional, Sequence

from benchmarks import loso_table, report_datasets, report_files, report_jobs, report_runner
from benchmarks.report_jobs import EMBEDDED, REAL_AUDIO


@dataclasses.dataclass(frozen=True)
class StudyOptions:
  """What the report covers and where it reads and writes.

  Attributes:
    models: the study models to run; None: every one, and then the
      leave-one-source-out table too (the whole report only).
    epochs: every config's num_epochs; None: each config's own.
    dataset_dir: the embedded default dataset (built first when missing).
    workdir_root: runs go to <workdir_root>/<dataset>/<job name>.
    out_dir: where table.md, results.json and f1_vs_epoch.png go.
    command: the command line, recorded in the outputs.
    shared_dir: the real media the recipe datasets are built from.
    real_audio: whether to add the real-audio table.
    real_audio_dir: the real-audio dataset (built when missing).
    loso: whether to add the leave-one-source-out table.
    real_world_dir: the real-world dataset (built when missing).
    loso_seeds: seeds of every leave-one-source-out run.
  """
  models: Optional[Sequence[str]]
  epochs: Optional[int]
  dataset_dir: str
  workdir_root: str
  out_dir: str
  command: str
  shared_dir: str
  real_audio: bool
  real_audio_dir: str
  loso: bool
  real_world_dir: str
  loso_seeds: Sequence[str]


def _real_audio_dataset(options: StudyOptions,
                        log: Callable[[str], None]) -> tuple[Optional[str], str]:
  """(the real-audio dataset, "") or (None, why its table is skipped; "" when no model wants it)."""
  if not options.real_audio:
    return None, "real-audio table (--no_real_audio)"
  if not report_jobs.real_audio_models(options.models):
    return None, ""
  real_dir, error = report_datasets.try_recipe_dataset(
      options.real_audio_dir, options.shared_dir, "real_audio", log)
  if error is not None:
    return None, f"real-audio table (dataset build failed: {error})"
  if not real_dir:
    return None, f"real-audio table ({options.real_audio_dir} missing and {options.shared_dir} absent)"
  return real_dir, ""


def _add_leave_one_source_out(results: dict, options: StudyOptions,
                              log: Callable[[str], None]) -> None:
  """The table of `python -m benchmarks.real_world` into results, or why it is skipped."""
  real_world_dir, error = report_datasets.try_recipe_dataset(
      options.real_world_dir, options.shared_dir, "real_world", log)
  if real_world_dir:
    # The benchmark runs from the repository root: it gets absolute paths.
    results["leave_one_source_out"] = loso_table.leave_one_source_out(
        os.path.abspath(real_world_dir),
        os.path.abspath(os.path.join(options.workdir_root, "real_world_loso")), options.loso_seeds,
        options.epochs, log)
    return
  why = (f"dataset build failed: {error}" if error is not None else
         f"{options.real_world_dir} missing and {options.shared_dir}/real_world absent")
  results["skipped"] = "; ".join(filter(None, [results["skipped"],
                                               f"leave-one-source-out table ({why})"]))


def reproduce_study(options: StudyOptions, log: Callable[[str], None] = print) -> dict:
  """Builds the missing datasets, runs every job, then the leave-one-source-out table.

  The files in options.out_dir are written after every job, and again with the
  leave-one-source-out table.

  Returns:
    the results dict written to results.json.
  """
  jobs = report_jobs.study_jobs(options.dataset_dir, options.models, options.epochs)
  report_datasets.ensure_embedded_default(options.dataset_dir, log)
  dataset_dirs = {EMBEDDED: os.path.abspath(options.dataset_dir)}
  real_dir, skipped = _real_audio_dataset(options, log)
  if real_dir:
    jobs += report_jobs.real_audio_jobs(real_dir, options.models, options.epochs)
    dataset_dirs[REAL_AUDIO] = os.path.abspath(real_dir)
  results = report_runner.reproduce(jobs, options.workdir_root, options.out_dir, dataset_dirs,
                                    options.command, skipped, log)
  if options.loso and options.models is None and not results.get("interrupted"):
    _add_leave_one_source_out(results, options, log)
    report_files.write_outputs(results, options.out_dir)
  return results
