"""Runs the selected benchmarks of the suite and writes each one's results file."""
from __future__ import annotations

import time
from typing import Any, Callable, Optional, Sequence

from benchmarks import profile_notes, results_files, suites
from benchmarks.measurement import machine


def run_suite(only: Sequence[str] = suites.NAMES, quick: bool = False,
              output_dir: Optional[str] = results_files.DEFAULT_DIR,
              command: str = "python -m benchmarks",
              log: Callable[[str], None] = print) -> dict[str, Any]:
  """Runs the benchmarks named in `only`, in running order.

  Each benchmark that ran writes its own file in `output_dir` (none when it is
  empty); a benchmark that failed or did not run keeps its file as it was.

  Returns:
    {"suites": {name: its results file's contents}, "errors": {name: message},
     "written": [paths]}
  """
  unknown = [b for b in only if b not in suites.SUITES]
  if unknown:
    raise ValueError(f"unknown benchmark(s) {unknown}; choose from {', '.join(suites.SUITES)}")
  started = time.perf_counter()
  if any(suites.SUITES[b].needs_tf_venv for b in only):
    from benchmarks import tf_env
    tf_env.ensure(log=log)
  measured_on = machine()
  settings = suites.settings(quick)
  state = suites.SharedState()
  rows, errors = {}, {}
  for name in suites.SUITES:
    if name not in only:
      continue
    t0 = time.perf_counter()
    try:
      rows[name] = suites.SUITES[name].run(settings, state, log)
    except Exception as e:  # one failing benchmark must not lose the others' results
      errors[name] = f"{type(e).__name__}: {e}"
      log(f"[{name}] FAILED: {errors[name]}")
    log(f"[{name}] {time.perf_counter() - t0:.0f} s")
  notes = {name: profile_notes.notes(suite_rows, suites.SUITES[name].explain, state, log)
           for name, suite_rows in rows.items()}
  elapsed_s = time.perf_counter() - started
  results = {name: {"suite": name, "machine": measured_on, "command": command, "quick": quick,
                    "elapsed_s": elapsed_s, "measurements": suite_rows,
                    "profile_notes": notes[name][0], "details": state.details.get(name),
                    "profiles": notes[name][1]}
             for name, suite_rows in rows.items()}
  written = [results_files.write(output_dir, r) for r in results.values()] if output_dir else []
  return {"suites": results, "errors": errors, "written": written}
