"""Detection over a list of files (`python -m babycry_jax.detect`): the outputs of each file
and the console lines.

For every file FILE, output_dir gets
  <stem>.json   windows [{start_s, end_s, probability, smoothed_probability}],
                crying segments [{start_s, end_s, peak_probability}], modalities used
  <stem>.csv    one row per window
  <stem>.png    the probability over time, segments shaded, a log-mel strip below (optional)
and the console one summary line. A file that cannot be used gets one error
line and no outputs; the others still run.
"""
from __future__ import annotations

import csv
import io
import json
import os
from typing import Any, Callable, Optional, Sequence

from babycry_jax import segments
from babycry_jax.data import media_probe, storage
from babycry_jax.detection import DetectError, Detection, Detector

def detection_json(detection: Detection, detector: Detector, threshold: float) -> dict[str, Any]:
  return {
      "file": os.path.abspath(detection.path),
      "duration_s": round(detection.duration_s, 6),
      "model": detector.model_name,
      "workdir": storage.absolute(detector.workdir) if detector.workdir else None,
      "model_source": detector.source,
      "checkpoint_step": detector.run.step,
      "window_s": detector.spec.window_s,
      "hop_s": detection.hop_s,
      "threshold": threshold,
      "smoothing": detection.smoothing,
      "modalities_used": list(detection.modalities_used),
      "modalities_note": detection.modality_note,
      "num_windows": int(len(detection.probabilities)),
      "windows": [{"start_s": round(float(s), 6), "end_s": round(float(e), 6),
                   "probability": float(p), "smoothed_probability": float(q), "padded": bool(pad)}
                  for s, e, p, q, pad in zip(detection.window_starts_s, detection.window_ends_s,
                                             detection.probabilities,
                                             detection.smoothed_probabilities, detection.padded)],
      "segments": [{"start_s": round(s.start_s, 6), "end_s": round(s.end_s, 6),
                    "peak_probability": s.peak_probability} for s in detection.segments],
      "timings_s": {k: round(v, 4) for k, v in detection.timings_s.items()},
      "realtime_factor": round(detection.realtime_factor, 2),
  }


def write_outputs(detection: Detection, detector: Detector, output_dir: str, stem: str,
                  threshold: float, plot: bool = True) -> dict[str, str]:
  """Writes <stem>.json, .csv and (with plot) .png into output_dir; returns their paths."""
  os.makedirs(output_dir, exist_ok=True)
  paths = {ext: os.path.join(output_dir, f"{stem}.{ext}")
           for ext in ("json", "csv", "png")[:3 if plot else 2]}
  buffer = io.StringIO()
  writer = csv.writer(buffer)
  writer.writerow(["start_s", "end_s", "probability", "smoothed_probability", "crying", "padded"])
  for s, e, p, q, pad in zip(detection.window_starts_s, detection.window_ends_s,
                             detection.probabilities, detection.smoothed_probabilities,
                             detection.padded):
    writer.writerow([f"{s:.3f}", f"{e:.3f}", repr(float(p)), repr(float(q)), int(q >= threshold),
                     int(pad)])
  storage.write_text(paths["csv"], buffer.getvalue())
  if plot:
    from babycry_jax import plots   # matplotlib: imported only when a plot is drawn
    plots.timeline_png(
        paths["png"], f"{os.path.basename(detection.path)} - {detector.model_name} "
        f"({detection.modality_note}), {len(detection.segments)} crying segment(s)",
        detection.window_starts_s, detection.window_ends_s, detection.smoothed_probabilities,
        [(s.start_s, s.end_s) for s in detection.segments], threshold, detection.duration_s,
        detection.spectrogram, detection.spectrogram_times_s, "no audio track")
  # The JSON last: its presence means the file's outputs are complete.
  storage.write_text(paths["json"], json.dumps(detection_json(detection, detector, threshold),
                                          indent=1))
  return paths


def output_stems(paths: Sequence[str]) -> list[str]:
  """A distinct output stem per input: the file's stem, its extension added on a clash."""
  stems, seen = [], set()
  for path in paths:
    base = os.path.basename(path)
    stem, ext = os.path.splitext(base)
    candidate = stem or base
    if candidate in seen:
      candidate = f"{stem}_{ext.lstrip('.')}" if ext else candidate
    n = 2
    unique = candidate
    while unique in seen:
      unique, n = f"{candidate}_{n}", n + 1
    seen.add(unique)
    stems.append(unique)
  return stems


def summary_line(detection: Detection, json_path: str) -> str:
  segments = ", ".join(f"{s.start_s:.1f}-{s.end_s:.1f} s (peak {s.peak_probability:.2f})"
                       for s in detection.segments[:5])
  if len(detection.segments) > 5:
    segments += f", ... {len(detection.segments) - 5} more"
  crying = (f"{len(detection.segments)} crying segment(s): {segments}" if detection.segments
            else "no crying")
  return (f"{detection.path}: {detection.duration_s:.1f} s, {len(detection.probabilities)} "
          f"windows, {detection.modality_note}; {crying}; {detection.realtime_factor:.1f}x "
          f"real time -> {json_path}")


def error_line(path: str, error: Exception) -> str:
  """One line saying which file failed and why."""
  if isinstance(error, media_probe.MediaError):
    return f"{path}: error: {error.reason}: {error.detail}"
  if isinstance(error, DetectError):
    return f"{path}: error: {error.detail}"
  detail = " ".join(str(error).split()) or "no detail"
  return f"{path}: error: unexpected {type(error).__name__}: {detail}"


def detect_files(detector: Detector, paths: Sequence[str], output_dir: str, hop_s: float = 1.0,
                 threshold: float = 0.5, smoothing_windows: int = 3, smoothing: str = "median",
                 report: Optional[Callable[[str, bool], None]] = None, plot: bool = True,
                 ) -> tuple[dict[str, Detection], dict[str, str]]:
  """Runs every file, writing its outputs; returns ({path: detection}, {path: error line}).

  `report(line, ok)`, when given, hears each file's summary or error line as it finishes;
  `plot` False skips the PNG.
  """
  segments.check_smoothing(smoothing_windows, smoothing)
  if not 0.0 <= threshold <= 1.0:
    raise ValueError(f"threshold must be within [0, 1], got {threshold}")
  if hop_s <= 0:
    raise ValueError(f"hop_s must be positive, got {hop_s}")
  done: dict[str, Detection] = {}
  failed: dict[str, str] = {}
  for path, stem in zip(paths, output_stems(paths)):
    try:
      detection = detector.detect(path, hop_s, threshold, smoothing_windows, smoothing)
      if len(detection.probabilities) == 0:
        raise DetectError(path, "no window could be cut from the file")
      written = write_outputs(detection, detector, output_dir, stem, threshold, plot)
    except Exception as e:  # one bad file must not stop the others
      failed[path] = error_line(path, e)
      if report:
        report(failed[path], False)
      continue
    done[path] = detection
    if report:
      report(summary_line(detection, written["json"]), True)
  return done, failed
