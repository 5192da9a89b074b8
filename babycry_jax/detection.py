"""Crying detection in any video or audio file with a trained checkpoint (`python -m babycry_jax.detect`).

Each file is cut into windows of the dataset's window_s every hop_s and every
window goes through exactly the training preprocessing (data.media_windows decoding,
data.features, data.example_decoder normalization),
then through the model in fixed-size batches. Windows are streamed: memory
does not grow with the file's length. For every file FILE, output_dir gets
  <stem>.json   windows [{start_s, end_s, probability, smoothed_probability}],
                crying segments [{start_s, end_s, peak_probability}], modalities used
  <stem>.csv    one row per window
  <stem>.png    the probability over time, segments shaded, a log-mel strip below
and the console one summary line. A file that cannot be used gets one error
line and no outputs; the others still run; the exit status is then 1.
"""
from __future__ import annotations

import csv
import dataclasses
import functools
import io
import json
import math
import os
import time
from typing import Any, Callable, Iterator, Optional, Sequence

import jax
import numpy as np
import scipy.ndimage

from babycry_jax import console, forward, patch_scoring
from babycry_jax.data import features, media_probe, media_windows, schema, storage, yamnet_features
from babycry_jax.data.example_decoder import ExampleDecoder
from babycry_jax.runs import Run, load_run

log = console.logger()

# Spectrogram columns kept for the timeline strip; longer files are averaged down.
_TIMELINE_COLUMNS = 1200
SMOOTHING_METHODS = ("median", "mean")


class DetectError(Exception):
  """A file this model cannot run on (e.g. a video-only model and no video track)."""

  def __init__(self, path: str, detail: str):
    self.path = path
    self.detail = " ".join(detail.split())
    super().__init__(f"{path}: {self.detail}")


@dataclasses.dataclass
class Segment:
  """A stretch of consecutive windows whose probability reached the threshold."""
  start_s: float
  end_s: float
  peak_probability: float


@dataclasses.dataclass
class Detection:
  """Result of one file. Arrays are [W], one entry per window in time order."""
  path: str
  duration_s: float
  hop_s: float                        # between window starts (a patch model's is snapped)
  modalities_used: tuple[str, ...]
  modality_note: str
  window_starts_s: np.ndarray
  window_ends_s: np.ndarray
  probabilities: np.ndarray           # the model's, per window
  smoothed_probabilities: np.ndarray  # over neighbouring windows: what segments are cut from
  smoothing: dict[str, Any]           # {"windows": k, "method": "median" | "mean"}
  padded: np.ndarray
  segments: list[Segment]
  timings_s: dict[str, float]
  spectrogram: np.ndarray | None      # [n_mels, T] dB, for the timeline strip
  spectrogram_times_s: np.ndarray | None

  @property
  def realtime_factor(self) -> float:
    return self.duration_s / max(self.timings_s["total"], 1e-9)


def check_smoothing(smoothing_windows: int, method: str) -> None:
  """ValueError unless smoothing_windows is odd and >= 1 and method one of SMOOTHING_METHODS."""
  if not (isinstance(smoothing_windows, int) and smoothing_windows >= 1
          and smoothing_windows % 2 == 1):
    raise ValueError(f"smoothing_windows must be an odd integer >= 1 (1 = no smoothing), "
                     f"got {smoothing_windows!r}")
  if method not in SMOOTHING_METHODS:
    raise ValueError(f"smoothing method must be one of {SMOOTHING_METHODS}, got {method!r}")


def smooth_probabilities(probabilities: np.ndarray, smoothing_windows: int = 3,
                         method: str = "median") -> np.ndarray:
  """[W] probabilities smoothed over each window and its neighbours, centred.

  A lone window above the threshold among quiet ones (a cough, a clatter) is
  rarely a cry, which lasts seconds; a median over smoothing_windows windows
  drops it and keeps a sustained cry. The ends repeat the edge value.

  Args:
    probabilities: [W] per-window crying probabilities in time order.
    smoothing_windows: odd number of windows (1 returns a copy).
    method: "median" or "mean".
  """
  check_smoothing(smoothing_windows, method)
  values = np.asarray(probabilities, np.float64)
  if smoothing_windows == 1 or len(values) == 0:
    return values.copy()
  if method == "median":
    return scipy.ndimage.median_filter(values, size=smoothing_windows, mode="nearest")
  return scipy.ndimage.uniform_filter1d(values, size=smoothing_windows, mode="nearest")


def merge_segments(starts_s: np.ndarray, ends_s: np.ndarray, probabilities: np.ndarray,
                   threshold: float) -> list[Segment]:
  """Consecutive windows with probability >= threshold, merged into segments.

  Windows in time order; a window joins the open segment when it starts at or
  before that segment's end (always so for hop_s <= window_s), so a gap between
  windows never counts as crying.

  Args:
    starts_s, ends_s: [W] window bounds in seconds.
    probabilities: [W] crying probability per window.
    threshold: decision threshold.
  """
  segments: list[Segment] = []
  open_segment: Segment | None = None
  for start_s, end_s, p in zip(starts_s, ends_s, probabilities):
    if p >= threshold:
      if open_segment is not None and start_s <= open_segment.end_s + 1e-6:
        open_segment.end_s = max(open_segment.end_s, float(end_s))
        open_segment.peak_probability = max(open_segment.peak_probability, float(p))
      else:
        open_segment = Segment(float(start_s), float(end_s), float(p))
        segments.append(open_segment)
    else:
      open_segment = None
  return segments


class _SpectrogramStrip:
  """Keeps a bounded, averaged copy of the log-mel of each window's first hop for the plot."""

  def __init__(self, spec: schema.FeatureSpec, hop_s: float, num_windows: int):
    frames_per_s = spec.sample_rate / spec.stft_hop
    self._take = max(1, int(round(min(hop_s, spec.window_s) * frames_per_s)))
    total = self._take * max(num_windows, 1)
    self._pool = max(1, math.ceil(total / _TIMELINE_COLUMNS))
    self._pool = min(self._pool, self._take)
    self._frame_s = 1.0 / frames_per_s
    self._columns: list[np.ndarray] = []
    self._times: list[np.ndarray] = []
    self._last: tuple[float, np.ndarray, int] | None = None

  def add(self, start_s: float, log_mel: np.ndarray, content_s: float) -> None:
    """log_mel [mel_frames, n_mels] dB of the window starting at start_s."""
    content_frames = max(1, int(round(content_s / self._frame_s)))
    self.append(start_s, log_mel[:min(self._take, content_frames)])
    # The last window also shows past its first hop; kept until the stream ends.
    self._last = (start_s, log_mel, content_frames)

  def append(self, start_s: float, log_mel: np.ndarray) -> None:
    """Frames [T, n_mels] from start_s, all of them (not a window's first hop)."""
    part = np.asarray(log_mel, np.float32)
    columns = len(part) // self._pool
    if columns == 0:
      pooled = part.mean(axis=0, keepdims=True)
    else:
      pooled = part[:columns * self._pool].reshape(columns, self._pool, -1).mean(axis=1)
    self._columns.append(pooled.astype(np.float16))
    self._times.append(start_s + np.arange(len(pooled)) * self._pool * self._frame_s)

  def result(self) -> tuple[np.ndarray | None, np.ndarray | None]:
    """([n_mels, T] dB columns, [T] their times in seconds), or (None, None) without audio."""
    if not self._columns:
      return None, None
    if self._last is not None:
      start_s, log_mel, content_frames = self._last
      if content_frames > self._take:
        self.append(start_s + self._take * self._frame_s, log_mel[self._take:content_frames])
      self._last = None
    return np.concatenate(self._columns).T.astype(np.float32), np.concatenate(self._times)


class Detector:
  """A restored checkpoint (or a shipped model's Run) ready to score windows of raw media.

  Attributes:
    source: where the model came from, for the outputs: the workdir, or
      "shipped model <name>".
    default_threshold: the shipped model's threshold chosen on validation, or 0.5.
  """

  def __init__(self, workdir: str | None, checkpoint: str = "best", batch_size: int = 32, *,
               run: Run | None = None, source: str | None = None,
               default_threshold: float = 0.5):
    if batch_size < 1:
      raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if (workdir is None) == (run is None):
      raise ValueError("give a workdir or a loaded run, not both or neither")
    self.workdir = workdir
    self.run = load_run(workdir, checkpoint) if run is None else run
    self.source = source or storage.absolute(workdir)
    self.default_threshold = default_threshold
    self.spec = self.run.spec
    self.model_name = self.run.config.model
    self.modalities = self.run.modalities
    self.batch_size = batch_size
    self.decoder = ExampleDecoder(self.run.metadata, self.run.config.audio_frames,
                                  self.run.config.video_frames)
    state = self.run.state
    self._params, self._batch_stats = jax.device_put((state.params, state.batch_stats))
    self._predict = jax.jit(functools.partial(forward.crying_probability, self.run.model.apply))
    started = time.perf_counter()
    # A model on YAMNet patches scores whole files patch by patch; others window by window.
    self._patches = (patch_scoring.PatchScorer(self.run, batch_size, batch_size)
                     if patch_scoring.supports(self.run.model) else None)
    if self._patches is None:
      template = self.window_inputs(schema.empty_window_features(self.spec))
      self._template = {k: np.zeros_like(v) for k, v in template.items()}
      self.predict([self._template])  # compiles once, for every later batch
    self.compile_s = time.perf_counter() - started

  def window_inputs(self, window_features: dict[str, Any]) -> dict[str, np.ndarray]:
    """The model inputs of one window, from the record-like features of a window.

    Args:
      window_features: features.window_features(window, spec) output, as stored
        in records ("audio/log_mel" float16 [mel_frames, n_mels], ...).
    Returns:
      log_mel [audio_frames, n_mels], mfcc_stats [78], frames [video_frames, H, W, C]
      (float32, normalized with the dataset's train stats), has_audio, has_video.
    """
    record = dict(window_features, label=0)  # label is unused at inference
    inputs = self.decoder.model_inputs(record)
    return forward.model_inputs(inputs)

  def _dispatch(self, examples: list[dict[str, np.ndarray]]) -> jax.Array:
    """Starts the model on up to batch_size windows (padded to batch_size, so it compiles once).

    Returns the [batch_size] crying probabilities as a device array still being computed.
    """
    padded = examples + [self._template] * (self.batch_size - len(examples))
    batch = {k: np.stack([e[k] for e in padded]) for k in schema.MODEL_INPUTS}
    return self._predict(self._params, self._batch_stats, batch)

  def predict(self, examples: list[dict[str, np.ndarray]]) -> np.ndarray:
    """[n] crying probabilities of n <= batch_size windows' model inputs."""
    return np.asarray(self._dispatch(examples))[:len(examples)]

  def plan_modalities(self, path: str, has_audio: bool, has_video: bool) -> tuple[tuple[str, ...], str]:
    """(modalities the model will use, a note for the user); DetectError when none fits."""
    present = [m for m, has in (("audio", has_audio), ("video", has_video)) if has]
    used = tuple(m for m in self.modalities if m in present)
    reads = "+".join(self.modalities)
    if not used:
      missing = " and ".join(m for m in self.modalities if m not in present)
      raise DetectError(path, f"model {self.model_name} reads {reads} but the file has no "
                              f"{missing} track (it has: {', '.join(present) or 'nothing usable'})")
    if used == self.modalities:
      note = "+".join(used)
    elif len(self.modalities) > 1:
      absent = [m for m in self.modalities if m not in present][0]
      note = f"{'+'.join(used)} only (no {absent} track; {self.model_name} handles a missing {absent})"
    else:
      note = "+".join(used)
    ignored = [m for m in present if m not in self.modalities]
    if ignored:
      note += (f" ({self.model_name} reads only {reads}: it ignores the "
               f"{' and '.join(ignored)} track)")
    return used, note

  def iter_window_features(self, path: str, hop_s: float,
                           timings: dict[str, float] | None = None) -> Iterator[tuple[Any, dict]]:
    """(media_windows.Window, features.window_features of it) for every window of a file, streamed.

    These are the exact record features preprocessing stores for a window at
    the same start; `timings` (if given) accumulates "decode" and "features" seconds.
    """
    timings = {} if timings is None else timings
    windows = media_windows.iter_windows(path, self.spec, hop_s)
    while True:
      t0 = time.perf_counter()
      window = next(windows, None)
      t1 = time.perf_counter()
      timings["decode"] = timings.get("decode", 0.0) + t1 - t0
      if window is None:
        return
      feats = features.window_features(window, self.spec)
      timings["features"] = timings.get("features", 0.0) + time.perf_counter() - t1
      yield window, feats

  def hop(self, hop_s: float) -> float:
    """The hop detection uses for a requested one: a patch model's is a whole number of patch
    hops (0.48 s), so that each patch is computed once."""
    if hop_s <= 0:
      raise ValueError(f"hop_s must be positive, got {hop_s}")
    return patch_scoring.snap_hop(hop_s) if self._patches is not None else hop_s

  def detect(self, path: str, hop_s: float = 1.0, threshold: float = 0.5,
             smoothing_windows: int = 3, smoothing: str = "median") -> Detection:
    """Scores every window of a file; raises media_probe.MediaError or DetectError for unusable files.

    Segments are cut from the probabilities smoothed over smoothing_windows
    neighbouring windows (see smooth_probabilities); the raw ones are kept.
    """
    hop_s = self.hop(hop_s)
    check_smoothing(smoothing_windows, smoothing)
    started = time.perf_counter()
    info = media_probe.probe(path)
    used, note = self.plan_modalities(path, info.has_audio, info.has_video)
    timings = {"probe": time.perf_counter() - started, "decode": 0.0, "features": 0.0, "model": 0.0}
    if self._patches is not None:
      strip = _SpectrogramStrip(self.spec, patch_scoring.CHUNK_PATCHES * yamnet_features.PATCH_HOP_S,
                                1 + int(info.duration_s / (patch_scoring.CHUNK_PATCHES
                                                           * yamnet_features.PATCH_HOP_S)))
      scored = list(self._patches.score(path, info.duration_s, hop_s, timings, strip.append))
      starts, contents, padded, probabilities = (list(x) for x in zip(*scored)) if scored else ([],) * 4
      ends = [s + c for s, c in zip(starts, contents)]
    else:
      strip = _SpectrogramStrip(self.spec, hop_s,
                                len(media_windows.window_starts(info.duration_s, self.spec, hop_s)))
      starts, ends, padded, probabilities = self._score_windows(path, hop_s, timings, strip)
    timings["total"] = time.perf_counter() - started
    starts_a, ends_a = np.asarray(starts, np.float64), np.asarray(ends, np.float64)
    probs_a = np.asarray(probabilities, np.float64)
    smoothed = smooth_probabilities(probs_a, smoothing_windows, smoothing)
    spectrogram, spectrogram_times = strip.result()
    return Detection(
        path=path, duration_s=float(info.duration_s), hop_s=hop_s, modalities_used=used,
        modality_note=note, window_starts_s=starts_a, window_ends_s=ends_a,
        probabilities=probs_a, smoothed_probabilities=smoothed,
        smoothing={"windows": smoothing_windows, "method": smoothing},
        padded=np.asarray(padded, bool),
        segments=merge_segments(starts_a, ends_a, smoothed, threshold),
        timings_s=timings, spectrogram=spectrogram, spectrogram_times_s=spectrogram_times)

  def _score_windows(self, path: str, hop_s: float, timings: dict[str, float],
                     strip: "_SpectrogramStrip") -> tuple[list, list, list, list]:
    """(starts, ends, padded, probabilities) of every window, each decoded and scored whole."""
    starts, ends, padded, probabilities = [], [], [], []
    pending: list[dict[str, np.ndarray]] = []
    in_flight: list[Any] = []

    def collect(keep: int) -> None:
      # Results are fetched one batch late, so the model runs while the next windows decode.
      t0 = time.perf_counter()
      while len(in_flight) > keep:
        array, n = in_flight.pop(0)
        probabilities.extend(np.asarray(array)[:n].tolist())
      timings["model"] += time.perf_counter() - t0

    def submit() -> None:
      t0 = time.perf_counter()
      in_flight.append((self._dispatch(pending), len(pending)))
      pending.clear()
      timings["model"] += time.perf_counter() - t0
      collect(keep=1)

    for window, feats in self.iter_window_features(path, hop_s, timings):
      t0 = time.perf_counter()
      pending.append(self.window_inputs(feats))
      if feats[schema.HAS_AUDIO]:
        strip.add(window.start_s, feats[schema.LOG_MEL], window.duration_s)
      timings["features"] += time.perf_counter() - t0
      starts.append(window.start_s)
      ends.append(window.start_s + window.duration_s)
      padded.append(window.padded)
      if len(pending) == self.batch_size:
        submit()
    if pending:
      submit()
    collect(keep=0)
    return starts, ends, padded, probabilities


def shipped_detector(name: str, batch_size: int = 32) -> Detector:
  """A Detector on a model shipped in the package (see shipped_model), at its own threshold."""
  from babycry_jax import shipped_model
  run, info = shipped_model.load(name)
  return Detector(None, batch_size=batch_size, run=run, source=f"shipped model {name}",
                  default_threshold=float(info["threshold"]))


# ------------------------------------------------------------------ outputs

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
  check_smoothing(smoothing_windows, smoothing)
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
