"""What runs on the TPU workers: the scripts of launch/worker/ with their settings, and the
one-line commands for logs, evaluation and the doctor.

Every path on a worker is relative to the remote user's home directory.
"""
from __future__ import annotations

import collections
import pathlib
import re
import shlex

CODE_DIR = "babycry_jax"
VENV_DIR = "babycry_jax_venv"
LOG_DIR = "babycry_jax_logs"
TARBALL = "babycry_jax_src.tar.gz"
UV_DIR = "babycry_jax_uv"
UV_VERSION = "0.13.9"
# The Python setup installs unless told otherwise: the one setup.py's pins were checked on.
DEFAULT_PYTHON = "3.11"
MIN_PYTHON = "3.11"

_WORKER_SCRIPTS = pathlib.Path(__file__).resolve().parent / "worker"
_STATUS_RE = re.compile(r"^babycry-train-status (\S+) (\S+)(?: (\S+))?\s*$")


def script(name: str, **settings) -> str:
  """launch/worker/<name>.sh preceded by its settings (a list becomes a bash array)."""
  lines = ["set -euo pipefail"]
  for key, value in settings.items():
    if isinstance(value, (list, tuple)):
      lines.append(f"{key}=({' '.join(shlex.quote(str(v)) for v in value)})")
    else:
      lines.append(f"{key}={shlex.quote(str(value))}")
  return "\n".join(lines) + "\n" + (_WORKER_SCRIPTS / f"{name}.sh").read_text()


def setup_script(python: str, jax_spec: str, rebuild: bool) -> str:
  return script("setup", TARBALL=TARBALL, CODE_DIR=CODE_DIR, VENV_DIR=VENV_DIR, UV_DIR=UV_DIR,
                UV_VERSION=UV_VERSION, PYTHON_REQUEST=python, MIN_PYTHON=MIN_PYTHON,
                JAX_SPEC=jax_spec, REBUILD=int(rebuild))


def train_script(trainer_args: list, envs: list) -> str:
  return script("train", CODE_DIR=CODE_DIR, VENV_DIR=VENV_DIR, LOG_DIR=LOG_DIR,
                TRAINER_ENV=envs, TRAINER_ARGS=trainer_args)


def stop_script(grace_s: int) -> str:
  return script("stop", LOG_DIR=LOG_DIR, GRACE_S=grace_s)


def status_script() -> str:
  return script("status", LOG_DIR=LOG_DIR)


def python_command(module_args: list, envs: list) -> str:
  """`python -m ...` of the project's venv, run from its source tree."""
  env = f"env {shlex.join(envs)} " if envs else ""
  return (f'cd "$HOME"/{shlex.quote(CODE_DIR)} && {env}"$HOME"/'
          f"{shlex.quote(VENV_DIR + '/bin/python')} {shlex.join(module_args)}")


def logs_command(lines: int, follow: bool = True) -> str:
  return (f"tail -n {lines}{' -F' if follow else ''} "
          f'"$HOME"/{shlex.quote(LOG_DIR + "/train.log")}')


WorkerStatus = collections.namedtuple("WorkerStatus", "host state detail")


def parse_status(output: str) -> list:
  """The WorkerStatus of each line status.sh printed (gcloud may add other lines)."""
  found = []
  for line in output.splitlines():
    match = _STATUS_RE.match(line.strip())
    if match:
      found.append(WorkerStatus(match.group(1), match.group(2), match.group(3) or ""))
  return found
