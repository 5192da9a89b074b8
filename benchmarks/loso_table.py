"""The report's leave-one-source-out table, from `python -m benchmarks.real_world` run apart."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Callable, Optional, Sequence

from babycry_jax.data import storage
from benchmarks.report_jobs import REPO_ROOT


def leave_one_source_out(dataset_dir: str, workdir: str, seeds: Sequence[str],
                         epochs: Optional[int] = None, log: Callable[[str], None] = print,
                         extra_flags: Sequence[str] = ()) -> dict:
  """Runs `python -m benchmarks.real_world` in a process of its own (a command never imports
  another) and returns its table; finished runs in workdir are reused by it."""
  args = ["-m", "benchmarks.real_world", f"--dataset={dataset_dir}", f"--workdir={workdir}",
          f"--seeds={','.join(seeds)}", *extra_flags]
  if epochs:
    args.append(f"--config.num_epochs={epochs}")
  command = "python " + " ".join(args)
  log(f"leave one source out: {command}")
  done = subprocess.run([sys.executable, *args], cwd=REPO_ROOT)
  if done.returncode != 0:
    return {"status": f"failed with exit code {done.returncode} (its output is above)",
            "command": command}
  return {"status": "ok", "command": command,
          "table_md": storage.read_text(os.path.join(workdir, "table.md")),
          "table": json.loads(storage.read_text(os.path.join(workdir, "table.json")))}
