"""Runs the report's jobs in order; its files are written again after each job."""
from __future__ import annotations

import datetime
import os
import platform
import time
from typing import Callable, Sequence

import jax

from benchmarks import job_run, report_files, report_table
from benchmarks.report_jobs import Job


def _machine() -> str:
  return (f"{platform.machine()} {os.cpu_count()} CPU cores, jax {jax.__version__} on "
          f"{jax.device_count()} {jax.default_backend()} device(s)")


def reproduce(jobs: Sequence[Job], workdir_root: str, out_dir: str,
              dataset_dirs: dict[str, str], command: str = "",
              skipped: str = "", log: Callable[[str], None] = print) -> dict:
  """Runs the jobs in order and writes the outputs after each one (so a kill keeps the rows so far).

  Args:
    jobs: the runs, each to the table of its dataset.
    workdir_root: runs go to <workdir_root>/<dataset>/<job name>.
    out_dir: where table.md, results.json and f1_vs_epoch.png are written.
    dataset_dirs: dataset name -> its dir, for the per-split counts.
    command: the command line, recorded in the outputs.
    skipped: a note on what was not run and why.

  Returns:
    the results dict written to results.json.
  """
  results = {"generated": datetime.datetime.now().isoformat(timespec="seconds"),
             "command": command, "machine": _machine(), "tables": {}, "skipped": skipped}
  started = time.perf_counter()
  for index, job in enumerate(jobs, 1):
    log(f"[{index}/{len(jobs)}] {job.label} on {job.dataset} "
        f"({time.perf_counter() - started:.0f} s elapsed)")
    job_started = time.perf_counter()
    try:
      row = job_run.run_job(job, os.path.join(workdir_root, job.dataset, job.name), log)
    except job_run.ReportInterrupted as e:
      log(f"stopping the report: {e}")
      results["interrupted"] = str(e)
      report_files.write_outputs(results, out_dir)
      break
    row["wall_s"] = time.perf_counter() - job_started
    if row["status"] == "ok":
      log(f"  {job.name}: test F1 {row['test']['f1']:.4f}, {row['wall_s']:.0f} s")
    section = results["tables"].setdefault(
        job.dataset, {"dataset_dir": dataset_dirs.get(job.dataset, ""), "rows": []})
    section["rows"].append(row)
    for dataset, s in results["tables"].items():
      s["dataset_line"] = report_table.dataset_line(s["dataset_dir"]) if s["dataset_dir"] else ""
    results["total_wall_s"] = time.perf_counter() - started
    report_files.write_outputs(results, out_dir)
  return results
