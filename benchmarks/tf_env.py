"""The separate TensorFlow environment the Keras and tf.data baselines run in.

TensorFlow cannot share a process with this project (see DESIGN.md: `tfrecord`
and `tensorflow` clash over protobuf symbols), and it must never become a
dependency. The baselines therefore run in their own virtual environment,
outside the repository, created on first use:

    python -m benchmarks --only train,input   # creates it first when missing

The location is $BABYCRY_TF_VENV, else ~/.cache/babycry_jax/tf_venv. Creating it
downloads TensorFlow from PyPI (a few hundred MB) once.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from typing import Any, Optional, Sequence

# Checked to install and run on Python 3.11 (x86-64 Linux). tensorflow-cpu ships
# Keras 3 as its `keras` dependency.
TF_REQUIREMENT = "tensorflow-cpu==2.20.0"
VENV_ENV_VAR = "BABYCRY_TF_VENV"
# Written last, so a half-finished install is never mistaken for a ready one.
READY_MARKER = "babycry_tf_ready.json"


def venv_dir() -> str:
  """Where the TensorFlow venv lives (outside the repository)."""
  default = os.path.join(os.path.expanduser("~"), ".cache", "babycry_jax", "tf_venv")
  return os.path.abspath(os.environ.get(VENV_ENV_VAR, default))


def venv_python(path: Optional[str] = None) -> str:
  return os.path.join(path or venv_dir(), "bin", "python")


def is_ready(path: Optional[str] = None) -> bool:
  """True when the venv exists and was finished for the pinned TensorFlow."""
  marker = os.path.join(path or venv_dir(), READY_MARKER)
  if not os.path.exists(marker) or not os.path.exists(venv_python(path)):
    return False
  try:
    with open(marker) as f:
      return json.load(f).get("requirement") == TF_REQUIREMENT
  except (OSError, ValueError):
    return False


def _base_python() -> str:
  # The interpreter this venv was made from, so the TF venv gets the same Python version.
  return getattr(sys, "_base_executable", None) or sys.executable


def ensure(log=print) -> str:
  """Creates the venv with TensorFlow when missing; returns its python executable.

  Raises:
    RuntimeError: when venv creation or the pip install fails (pip's output is shown
      as it runs).
  """
  path = venv_dir()
  if is_ready(path):
    return venv_python(path)
  building = path + ".building"
  shutil.rmtree(building, ignore_errors=True)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  log(f"[tf_env] creating the TensorFlow venv at {path} ({TF_REQUIREMENT}; downloads a few "
      "hundred MB once)")
  steps: Sequence[Sequence[str]] = (
      (_base_python(), "-m", "venv", building),
      (venv_python(building), "-m", "pip", "install", "--upgrade", "pip"),
      (venv_python(building), "-m", "pip", "install", "--progress-bar", "off", TF_REQUIREMENT),
  )
  for command in steps:
    log(f"[tf_env] $ {' '.join(command)}")
    # pip's own lines (Collecting/Downloading ...) are the progress report.
    result = subprocess.run(command)
    if result.returncode:
      shutil.rmtree(building, ignore_errors=True)
      raise RuntimeError(f"creating the TensorFlow venv failed at `{' '.join(command)}` "
                         f"(exit {result.returncode}); pip's output is above")
  # Only `bin/python -m ...` is used, which works after a move (console-script
  # shebangs would still name the build path).
  shutil.rmtree(path, ignore_errors=True)
  os.rename(building, path)
  version = subprocess.run((venv_python(path), "-c", "import tensorflow as tf; print(tf.__version__)"),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  if version.returncode:
    raise RuntimeError(f"TensorFlow in {path} does not import:\n{version.stderr[-4000:]}")
  with open(os.path.join(path, READY_MARKER + ".tmp"), "w") as f:
    json.dump({"requirement": TF_REQUIREMENT, "tensorflow": version.stdout.strip()}, f)
  os.replace(os.path.join(path, READY_MARKER + ".tmp"), os.path.join(path, READY_MARKER))
  log(f"[tf_env] ready: TensorFlow {version.stdout.strip()}")
  return venv_python(path)


def run_json(args: Sequence[str], env: Optional[dict[str, str]] = None,
             timeout_s: Optional[float] = None) -> Any:
  """Runs `python -m benchmarks.<module> args` in the TF venv; returns its last stdout line as JSON.

  The subprocess sees the repository on PYTHONPATH but none of this process's
  site-packages, so it cannot import the project's dependencies by accident.

  Raises:
    RuntimeError: when the subprocess fails or prints no JSON.
  """
  python = ensure()
  repo_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  child_env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
  child_env.update(env or {})
  child_env["PYTHONPATH"] = repo_root
  child_env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  result = subprocess.run((python, *args), cwd=repo_root, env=child_env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=timeout_s)
  if result.returncode:
    raise RuntimeError(f"`{' '.join(args)}` in the TensorFlow venv failed (exit "
                       f"{result.returncode}):\n{result.stderr[-4000:]}")
  lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
  if not lines:
    raise RuntimeError(f"`{' '.join(args)}` printed no JSON; stdout:\n{result.stdout[-2000:]}\n"
                       f"stderr:\n{result.stderr[-2000:]}")
  return json.loads(lines[-1])
