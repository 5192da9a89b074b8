"""table.md of the reproduction report: a results table per dataset, with notes on its columns."""
from __future__ import annotations

import math
from typing import Optional, Sequence

from babycry_jax.data import schema
from benchmarks.report_jobs import EMBEDDED, REAL_AUDIO


def _num(value: Optional[float], digits: int = 3) -> str:
  if value is None or (isinstance(value, float) and math.isnan(value)):
    return "—"
  return f"{value:.{digits}f}"


def _si(value: Optional[float]) -> str:
  if value is None:
    return "—"
  for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
    if value >= scale:
      return f"{value / scale:.{1 if value / scale < 100 else 0}f}{unit}"
  return f"{value:.0f}"


TABLE_HEADER = ("| model | modalities | test F1 | precision | recall | accuracy | ROC-AUC | "
                "F1 audio only | F1 video only | parameters | FLOPs/example | train ex/s | "
                "epochs (best) | study val F1 |")


def table_rows(rows: Sequence[dict]) -> list[str]:
  """Markdown lines (header, rule, one line per row) of a results table."""
  lines = [TABLE_HEADER, "| --- | --- |" + " ---: |" * 12]
  for r in rows:
    study = r.get("study_val_f1") or "—"
    if r["status"] != "ok":
      cells = [r["label"], "+".join(r.get("modalities", [])) or "—", f"**{r['status']}**"]
      lines.append("| " + " | ".join(cells) + " |" + " |" * 10 + f" {study} |")
      continue
    test = r["test"]
    epochs = f"{r['num_epochs']:g} ({r['best_epoch']:.0f})"
    lines.append("| " + " | ".join([
        r["label"], "+".join(r["modalities"]), _num(test["f1"]), _num(test["precision"]),
        _num(test["recall"]), _num(test["accuracy"]), _num(test["roc_auc"]),
        _num(r.get("test_f1_audio_only")), _num(r.get("test_f1_video_only")),
        f"{r['params']:,}", _si(r["flops_per_example"]),
        _num(r["train_examples_per_s"], 1), epochs, study]) + " |")
  return lines


def dataset_line(dataset_dir: str) -> str:
  """The clips (and cries) per split of a dataset, or that it is missing."""
  try:
    splits = schema.read_metadata(dataset_dir)["splits"]
  except FileNotFoundError:
    return f"dataset {dataset_dir}: missing"
  parts = [f"{s} {splits[s]['num_examples']} ({splits[s]['labels']['crying']} crying)"
           for s in ("train", "validation", "test") if s in splits]
  return "clips per split: " + ", ".join(parts)


def failed_rows(results: dict) -> list[dict]:
  """The rows of every table whose run or evaluation failed."""
  return [r for s in results["tables"].values() for r in s["rows"] if r["status"] != "ok"]


def render_markdown(results: dict) -> str:
  """table.md: one section per dataset, with notes on what each column means."""
  out = ["# Reproduction of the study", "",
         f"Generated {results['generated']} by `{results['command']}` on {results['machine']}.",
         "Test metrics at threshold 0.5 of the checkpoint with the best validation F1; the study "
         "reported validation F1 on its own data (2500 clips), so its column is a reference, not "
         "a like-for-like number.", ""]
  loso = results.get("leave_one_source_out")
  if loso:
    out += ["## Real recordings: false alarms on sound sources never heard in training", ""]
    if loso["status"] == "ok":
      out += [f"`{loso['command']}`: each source group of negatives held out of training in "
              "turn; its false-alarm rate at the threshold that keeps "
              f"{loso['table']['recall']:.0%} of the validation cries (babies never heard in "
              "training).", "", loso["table_md"].strip(), ""]
    else:
      out += [f"`{loso['command']}`: {loso['status']}", ""]
  titles = {EMBEDDED: "Embedded default dataset (generated audio + video)",
            REAL_AUDIO: "Real audio (Donate-a-cry cries against speech, music and household sounds)"}
  for dataset, section in results["tables"].items():
    out += [f"## {titles.get(dataset, dataset)}", "", section["dataset_line"], ""]
    out += table_rows(section["rows"])
    out.append("")
  out += ["Columns: F1 audio/video only = the fusion model evaluated with the other track hidden "
          "(zeroed and marked missing). FLOPs/example = XLA's cost analysis of one forward pass "
          "(a multiply-add is 2 FLOPs); XLA counts a scanned loop body once, so the LSTM's "
          "300-step recurrence is counted as one step. Train ex/s = median over the run's logged "
          "training intervals on this machine (shared CPU, noisy). Epochs (best) = epochs trained "
          "and the epoch of the evaluated checkpoint.", ""]
  failed = failed_rows(results)
  if failed:
    out += ["Failed runs:", ""] + [f"- {r['label']} ({r['dataset']}): {r['status']}" for r in failed]
    out.append("")
  if results.get("interrupted"):
    out += [f"Interrupted: {results['interrupted']}", ""]
  if results.get("skipped"):
    out += [f"Skipped: {results['skipped']}", ""]
  return "\n".join(out)
