"""errors.jsonl: every input that gave no record, and why, written by a worker.

Three kinds of entries reach it: inputs that failed to decode ("failed"),
inputs shorter than a window under short_policy "skip" ("skipped", reported
as too_short) and inputs a segment list names whose media is absent
("missing"). Only the first kind counts towards max_failure_fraction.
"""
from __future__ import annotations

import json
from typing import Any, Iterable, Mapping

from apache_beam.io.filesystems import FileSystems

from babycry_jax.data import schema
from preprocess import output_files

FAILED, SKIPPED, MISSING = "failed", "skipped", "missing"
_REPORTED_REASON = {SKIPPED: "too_short"}
_EXAMPLES = 5   # failures named in the refusal message


def entry(kind: str, path: str, reason: str, detail: str) -> dict[str, str]:
  return {"kind": kind, "path": path, "reason": _REPORTED_REASON.get(kind, reason), "detail": detail}


def report_text(entries: Iterable[Mapping[str, str]]) -> str:
  """The errors.jsonl text: one line per entry, sorted, whatever order they came in."""
  rows = sorted((e["path"], e["reason"], e["detail"]) for e in entries)
  return "".join(json.dumps({"path": p, "reason": r, "detail": d}) + "\n" for p, r, d in rows)


def summarize(entries: Iterable[Mapping[str, str]]) -> dict[str, Any]:
  """What the launcher needs of the report: counts by kind and reason, the first failures."""
  entries = list(entries)
  failures = sorted((e for e in entries if e["kind"] == FAILED), key=lambda e: (e["path"], e["reason"]))
  by_reason: dict[str, int] = {}
  for e in entries:
    if e["kind"] != SKIPPED:
      by_reason[e["reason"]] = by_reason.get(e["reason"], 0) + 1
  return {"failed": len(failures), "skipped": sum(e["kind"] == SKIPPED for e in entries),
          "missing": sum(e["kind"] == MISSING for e in entries),
          "by_reason": dict(sorted(by_reason.items())),
          "first_failures": [f"{e['path']}: {e['reason']}" for e in failures[:_EXAMPLES]]}


def write_report(entries: list[Mapping[str, str]], output_dir: str) -> dict[str, Any]:
  """Writes errors.jsonl into output_dir (local or gs://) and returns `summarize(entries)`."""
  with output_files.created(FileSystems.join(output_dir, schema.ERRORS_FILE), "application/json") as f:
    f.write(report_text(entries).encode("utf-8"))
  return summarize(entries)
