"""The results files: one JSON file per benchmark, replaced only when that benchmark runs.

A file holds one benchmark's latest run, so no row in it is ever older than
the others:
    {"suite", "machine" (with the date), "command", "quick",
     "elapsed_s" (the whole command's time), "measurements": [measurement(...)],
     "profile_notes", "details" (the raw figures), "profiles" (those behind the notes)}
"""
from __future__ import annotations

import json
import os
import tempfile
from typing import Any

from benchmarks import suites

DEFAULT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def path(output_dir: str, suite: str) -> str:
  return os.path.join(output_dir, f"{suite}.json")


def write(output_dir: str, result: dict[str, Any]) -> str:
  """Replaces the file of `result["suite"]`, leaving the other benchmarks' files; returns its path."""
  os.makedirs(output_dir, exist_ok=True)
  target = path(output_dir, result["suite"])
  write_json(target, result)
  return target


def read_all(output_dir: str) -> list[dict[str, Any]]:
  """The files in `output_dir` of every registered benchmark that has one, in running order."""
  found = []
  for name in suites.SUITES:
    if os.path.exists(path(output_dir, name)):
      with open(path(output_dir, name)) as f:
        found.append(json.load(f))
  return found


def write_json(target: str, data: dict[str, Any]) -> None:
  """Writes atomically: a temp file in the same dir, then a rename."""
  directory = os.path.dirname(os.path.abspath(target))
  fd, tmp = tempfile.mkstemp(prefix=".results_", suffix=".json", dir=directory)
  try:
    with os.fdopen(fd, "w") as f:
      json.dump(data, f, indent=2, default=_json_default)
      f.write("\n")
    os.replace(tmp, target)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise


def _json_default(value: Any) -> Any:
  if hasattr(value, "tolist"):
    return value.tolist()
  return str(value)
