"""Crying detection in any video or audio file with a trained checkpoint or a shipped model.

Each file is cut into windows of the dataset's window_s every hop_s and every
window goes through exactly the training preprocessing (data.media_windows decoding,
data.features, data.example_decoder normalization), then through the model in
fixed-size batches; a model on YAMNet patches scores the file patch by patch
instead (babycry_jax.patch_scoring). Windows are streamed: memory does not grow
with the file's length. Probabilities are smoothed and merged into crying
segments (babycry_jax.segments); babycry_jax.detection_files writes the outputs.
"""
from __future__ import annotations

import dataclasses
import functools
import time
from typing import Any, Iterator

import jax
import numpy as np

from babycry_jax import console, forward, patch_scoring, segments
from babycry_jax.data import features, media_probe, media_windows, schema, storage, yamnet_features
from babycry_jax.data.example_decoder import ExampleDecoder
from babycry_jax.runs import Run, load_run
from babycry_jax.spectrogram_strip import SpectrogramStrip

log = console.logger()



class DetectError(Exception):
  """A file this model cannot run on (e.g. a video-only model and no video track)."""

  def __init__(self, path: str, detail: str):
    self.path = path
    self.detail = " ".join(detail.split())
    super().__init__(f"{path}: {self.detail}")


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
  segments: list[segments.Segment]
  timings_s: dict[str, float]
  spectrogram: np.ndarray | None      # [n_mels, T] dB, for the timeline strip
  spectrogram_times_s: np.ndarray | None

  @property
  def realtime_factor(self) -> float:
    return self.duration_s / max(self.timings_s["total"], 1e-9)


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

  @property
  def patch_scorer(self) -> "patch_scoring.PatchScorer | None":
    """The patch-by-patch scorer of a model on YAMNet patches; None for a window model."""
    return self._patches

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
    segments.check_smoothing(smoothing_windows, smoothing)
    started = time.perf_counter()
    info = media_probe.probe(path)
    used, note = self.plan_modalities(path, info.has_audio, info.has_video)
    timings = {"probe": time.perf_counter() - started, "decode": 0.0, "features": 0.0, "model": 0.0}
    if self._patches is not None:
      strip = SpectrogramStrip(self.spec, patch_scoring.CHUNK_PATCHES * yamnet_features.PATCH_HOP_S,
                                1 + int(info.duration_s / (patch_scoring.CHUNK_PATCHES
                                                           * yamnet_features.PATCH_HOP_S)))
      scored = list(self._patches.score(path, info.duration_s, hop_s, timings, strip.append))
      starts, contents, padded, probabilities = (list(x) for x in zip(*scored)) if scored else ([],) * 4
      ends = [s + c for s, c in zip(starts, contents)]
    else:
      strip = SpectrogramStrip(self.spec, hop_s,
                                len(media_windows.window_starts(info.duration_s, self.spec, hop_s)))
      starts, ends, padded, probabilities = self._score_windows(path, hop_s, timings, strip)
    timings["total"] = time.perf_counter() - started
    starts_a, ends_a = np.asarray(starts, np.float64), np.asarray(ends, np.float64)
    probs_a = np.asarray(probabilities, np.float64)
    smoothed = segments.smooth_probabilities(probs_a, smoothing_windows, smoothing)
    spectrogram, spectrogram_times = strip.result()
    return Detection(
        path=path, duration_s=float(info.duration_s), hop_s=hop_s, modalities_used=used,
        modality_note=note, window_starts_s=starts_a, window_ends_s=ends_a,
        probabilities=probs_a, smoothed_probabilities=smoothed,
        smoothing={"windows": smoothing_windows, "method": smoothing},
        padded=np.asarray(padded, bool),
        segments=segments.merge_segments(starts_a, ends_a, smoothed, threshold),
        timings_s=timings, spectrogram=spectrogram, spectrogram_times_s=spectrogram_times)

  def _score_windows(self, path: str, hop_s: float, timings: dict[str, float],
                     strip: "SpectrogramStrip") -> tuple[list, list, list, list]:
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


