"""Scoring a whole file with a model built on YAMNet's patches, each patch computed once.

A `yamnet_cry` window is 7 patches of 0.96 s every 0.48 s, and windows every hop
overlap: scored window by window, each patch would go through YAMNet about
window_s / hop_s times. Here the file's 16 kHz audio is read in one pass, in
chunks of patches (data.media_audio.iter_audio_16k, equal sample for sample to the
windows preprocessing cuts), every patch goes through the model's
`patch_outputs` once, and each window's `window_logits` reads the outputs of
its patches. So the hop is a whole number of patch hops (0.48 s); a padded
last window (its media looped, as preprocessing pads) is scored on its own.
Memory stays bounded: only the patches of windows not yet scored are kept.
"""
from __future__ import annotations

import time
from typing import Any, Iterator

import jax
import numpy as np

from babycry_jax import forward
from babycry_jax.data import features, media_audio, media_windows, yamnet_features

# Patches of audio read and put through the model per chunk (about 31 s).
CHUNK_PATCHES = 64


def supports(model: Any) -> bool:
  """True for an audio model with patch_outputs and window_logits (models.yamnet_cry)."""
  return (hasattr(type(model), "patch_outputs") and hasattr(type(model), "window_logits")
          and tuple(getattr(type(model), "modalities", ())) == ("audio",))


def snap_hop(hop_s: float) -> float:
  """hop_s rounded to a whole number (at least 1) of YAMNet patch hops."""
  return max(1, round(hop_s / yamnet_features.PATCH_HOP_S)) * yamnet_features.PATCH_HOP_S


class PatchScorer:
  """A run's model over files, patch by patch; jitted at fixed batch shapes, so it compiles once."""

  def __init__(self, run, batch_patches: int = 16, batch_windows: int = 16):
    self.spec = run.spec
    self.patches_per_window = yamnet_features.num_patches(self.spec.yamnet_frames)
    if self.patches_per_window == 0:
      raise ValueError(f"windows of {self.spec.window_s:g} s are shorter than one YAMNet patch")
    self.batch_patches, self.batch_windows = batch_patches, batch_windows
    model = run.model
    self._variables = jax.device_put(forward.variables(run.state.params, run.state.batch_stats))
    self._outputs = jax.jit(lambda v, x: model.apply(v, x, method=type(model).patch_outputs))
    self._probability = jax.jit(lambda v, e, c: forward.probability_of(
        model.apply(v, e, c, method=type(model).window_logits)))
    shape = (batch_patches, yamnet_features.PATCH_FRAMES, yamnet_features.N_MELS)
    embeddings, class_logits = self._outputs(self._variables, np.zeros(shape, np.float32))
    self._window_probabilities(np.zeros((0, self.patches_per_window, embeddings.shape[-1])),
                               np.zeros((0, self.patches_per_window, class_logits.shape[-1])))

  def _patch_outputs(self, patches: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """[N, 96, 64] -> ([N, 1024], [N, 521]), in fixed-size batches (the last one padded)."""
    embeddings, class_logits = [], []
    for first in range(0, len(patches), self.batch_patches):
      part = patches[first:first + self.batch_patches]
      padded = np.zeros((self.batch_patches,) + part.shape[1:], np.float32)
      padded[:len(part)] = part
      e, c = self._outputs(self._variables, padded)
      embeddings.append(np.asarray(e)[:len(part)])
      class_logits.append(np.asarray(c)[:len(part)])
    return np.concatenate(embeddings), np.concatenate(class_logits)

  def _window_probabilities(self, embeddings: np.ndarray, class_logits: np.ndarray) -> np.ndarray:
    """[W, P, 1024], [W, P, 521] -> [W] crying probabilities, in fixed-size batches."""
    count, out = len(embeddings), []
    for first in range(0, max(count, 1), self.batch_windows):
      e = np.zeros((self.batch_windows,) + embeddings.shape[1:], np.float32)
      c = np.zeros((self.batch_windows,) + class_logits.shape[1:], np.float32)
      n = min(self.batch_windows, count - first)
      e[:n], c[:n] = embeddings[first:first + n], class_logits[first:first + n]
      out.append(np.asarray(self._probability(self._variables, e, c))[:n])
    return np.concatenate(out)

  def _chunks(self, num_patches: int) -> list[tuple[int, int]]:
    return [(first, min(first + CHUNK_PATCHES, num_patches))
            for first in range(0, num_patches, CHUNK_PATCHES)]

  def score(self, path: str, duration_s: float, hop_s: float, timings: dict[str, float],
            log_mel_sink=None) -> Iterator[tuple[float, float, bool, float]]:
    """(start_s, content_s, padded, probability) of every window of a file, in time order.

    hop_s must be a whole number of patch hops (snap_hop). `log_mel_sink(start_s,
    frames [T, 64])`, when given, hears the file's YAMNet log-mel once, in order.
    """
    spec, per_window = self.spec, self.patches_per_window
    step = int(round(hop_s / yamnet_features.PATCH_HOP_S))
    plan = media_windows.window_starts(duration_s, spec, hop_s)
    full = [start_s for start_s, padded in plan if not padded]
    num_patches = (len(full) - 1) * step + per_window if full else 0
    chunks = self._chunks(num_patches)
    spans = [(first * yamnet_features.PATCH_HOP_S,
              ((last - first - 1) * yamnet_features.PATCH_HOP_SAMPLES + yamnet_features.PATCH_SAMPLES)
              / yamnet_features.SAMPLE_RATE) for first, last in chunks]
    audio = media_audio.iter_audio_16k(path, spec, spans)
    kept_from, embeddings, class_logits = 0, np.zeros((0, 1)), np.zeros((0, 1))
    window = 0
    for (first, last), (start_s, _) in zip(chunks, spans):
      t0 = time.perf_counter()
      chunk_audio = next(audio)
      t1 = time.perf_counter()
      log_mel = yamnet_features.log_mel(chunk_audio).astype(np.float16).astype(np.float32)
      if log_mel_sink is not None:   # the frames the next chunk does not start with
        shown = (last - first) * yamnet_features.PATCH_HOP_FRAMES if last < num_patches else None
        log_mel_sink(start_s, log_mel[:shown])
      patches = yamnet_features.patches(log_mel)[:last - first]
      t2 = time.perf_counter()
      e, c = self._patch_outputs(patches)
      embeddings = e if first == kept_from else np.concatenate([embeddings, e])
      class_logits = c if first == kept_from else np.concatenate([class_logits, c])
      ready = []
      while window < len(full) and window * step + per_window <= last:
        ready.append(window * step - kept_from)
        window += 1
      if ready:
        probabilities = self._window_probabilities(
            np.stack([embeddings[i:i + per_window] for i in ready]),
            np.stack([class_logits[i:i + per_window] for i in ready]))
        for offset, p in zip(ready, probabilities):
          yield full[(offset + kept_from) // step], spec.window_s, False, float(p)
      drop = window * step - kept_from
      embeddings, class_logits, kept_from = embeddings[drop:], class_logits[drop:], kept_from + drop
      timings["decode"] += t1 - t0
      timings["features"] += t2 - t1
      timings["model"] += time.perf_counter() - t2
    for start_s, padded in plan:
      if padded:
        yield self._padded_window(path, start_s, duration_s, timings)

  def _padded_window(self, path: str, start_s: float, duration_s: float,
                     timings: dict[str, float]) -> tuple[float, float, bool, float]:
    """The last, padded window: its media looped to a whole window, as preprocessing does."""
    t0 = time.perf_counter()
    window = media_windows.window_at(path, self.spec, start_s, duration_s - start_s)
    t1 = time.perf_counter()
    log_mel = features.yamnet_log_mel(window.audio_16k, self.spec).astype(np.float32)
    patches = yamnet_features.patches(log_mel)[:self.patches_per_window]
    t2 = time.perf_counter()
    e, c = self._patch_outputs(patches)
    probability = self._window_probabilities(e[None], c[None])[0]
    timings["decode"] += t1 - t0
    timings["features"] += t2 - t1
    timings["model"] += time.perf_counter() - t2
    return window.start_s, window.duration_s, window.padded, float(probability)
