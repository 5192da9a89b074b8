"""`launch.sh local`: the same entry points on this machine."""
from __future__ import annotations

import os
import shlex
import shutil
import sys

from launch.errors import LaunchError, UsageError

JOBS = {"train": "babycry_jax.train", "preprocess": "preprocess",
        "eval": "babycry_jax.evaluate", "detect": "babycry_jax.detect"}

USAGE = """\
usage: launch.sh [--dry-run] local JOB [ARGS ...]
       launch.sh [--dry-run] local -- COMMAND [ARGS ...]"""

HELP = USAGE + """

Run a job on this machine, from the current directory, with $PYTHON (default: python,
else python3). ARGS go to the module unchanged, so 'local train --help' shows the
trainer's own flags. --dry-run may also appear among ARGS (before any '--').

  train       python -m babycry_jax.train --config CONFIG --workdir WORKDIR [...]
              (multi-host: --coordinator_address HOST:PORT --num_processes N --process_id I)
  preprocess  python -m preprocess --input DIR --output DATASET_DIR [...]
  eval        python -m babycry_jax.evaluate --workdir WORKDIR [--split S] [--checkpoint C]
  detect      python -m babycry_jax.detect --workdir WORKDIR FILE ...
  -- COMMAND  run COMMAND as given
"""
_JOB_CHOICES = "train, preprocess, eval, detect or -- COMMAND"


def main(args: list, dry_run: bool) -> int:
  """Replaces this process with the job (so its exit status is launch.sh's)."""
  words, before_separator = [], True
  for word in args:
    if before_separator and word == "--dry-run":
      dry_run = True  # ours wherever it appears before a '--'; everything else is the job's
      continue
    before_separator = before_separator and word != "--"
    words.append(word)
  if not words:
    raise UsageError(f"missing JOB ({_JOB_CHOICES})")
  job, rest = words[0], words[1:]
  if job in ("-h", "--help"):
    print(HELP, end="")
    return 0
  if job == "--":
    if not rest:
      raise UsageError("nothing to run after --")
    argv = rest
  elif job in JOBS:
    python = os.environ.get("PYTHON") or ("python" if shutil.which("python") else "python3")
    argv = [python, "-m", JOBS[job], *rest]
  else:
    raise UsageError(f"unknown local job '{job}' ({_JOB_CHOICES})")
  if dry_run:
    print(shlex.join(argv))
    return 0
  print(f"+ {shlex.join(argv)}", file=sys.stderr, flush=True)
  try:
    os.execvp(argv[0], argv)
  except OSError as e:
    raise LaunchError(f"cannot run {argv[0]}: {e.strerror}", 127) from None
  return 0  # not reached: exec replaced this process
