"""Scoring a whole file with a model built on YAMNet's patches, each patch computed once.

A `yamnet_cry` window is 7 patches of 0.96 s every 0.48 s, and windows every hop
overlap: scored window by window, each patch would go through YAMNet about
window_s / hop_s times. Here the file's 16 kHz audio is read in one pass, in
chunks of patches (data.media_audio.iter_audio_16k, equal sample for sample to the
windows preprocessing cuts), every patch goes through the model's
`patch_outputs` once, and each window's `window_logits` reads the outputs of
its patches. So the hop is a whole number of patch hops (0.48 s); a padded
last window (its media looped, as preprocessing pads) has patches of its own,
which join the file's last model call. Memory stays bounded: only the patches
of windows not yet scored are kept.

A model call takes a batch of patch_batch_sizes: a short file's or a live
stream's few patches are not padded to a full batch (on one CPU core the
converted YAMNet took about 8 ms for 1 patch, 21 ms for 8 and 70 ms for 32).
"""
from __future__ import annotations

import math
import time
from typing import Any, Iterator

import jax
import numpy as np

from babycry_jax import forward
from babycry_jax.data import features, media_audio, media_windows, yamnet_features

# Patches of audio read and put through the model per chunk (about 31 s).
CHUNK_PATCHES = 64
PATCH_SHAPE = (yamnet_features.PATCH_FRAMES, yamnet_features.N_MELS)


def supports(model: Any) -> bool:
  """True for an audio model with patch_outputs and window_logits (models.yamnet_cry)."""
  return (hasattr(type(model), "patch_outputs") and hasattr(type(model), "window_logits")
          and tuple(getattr(type(model), "modalities", ())) == ("audio",))


def patch_batch_sizes(largest: int) -> tuple[int, ...]:
  """The batch sizes patches go through the model in: 1, 2, 3, 4, 6, 8, 12, ... (powers of two
  and halfway between) below `largest`, and it; a rest is padded by less than half."""
  sizes, power = set(), 1
  while power < largest:
    sizes.update(s for s in (power, 3 * power // 2) if 0 < s < largest)
    power *= 2
  return tuple(sorted(sizes)) + (largest,)


def snap_hop(hop_s: float) -> float:
  """hop_s rounded to a whole number (at least 1) of YAMNet patch hops."""
  return max(1, round(hop_s / yamnet_features.PATCH_HOP_S)) * yamnet_features.PATCH_HOP_S


class PatchScorer:
  """A run's model over files, patch by patch, jitted at the few batch shapes of
  patch_batch_sizes; each compiles (or is read from the compilation cache) when first used."""

  def __init__(self, run, batch_patches: int = 16, batch_windows: int = 16):
    self.spec = run.spec
    self.patches_per_window = yamnet_features.num_patches(self.spec.yamnet_frames)
    if self.patches_per_window == 0:
      raise ValueError(f"windows of {self.spec.window_s:g} s are shorter than one YAMNet patch")
    self.batch_patches, self.batch_windows = batch_patches, batch_windows
    self._batch_sizes = patch_batch_sizes(batch_patches)
    model = run.model
    self._variables = jax.device_put(forward.variables(run.state.params, run.state.batch_stats))
    self._outputs = jax.jit(lambda v, x: model.apply(v, x, method=type(model).patch_outputs))
    self._probability = jax.jit(lambda v, e, c: forward.probability_of(
        model.apply(v, e, c, method=type(model).window_logits)))

  def warm(self) -> None:
    """Compiles (or reads from the cache) every batch size and the head now, not at the first
    patches: what the live monitor calls before it opens its source."""
    for size in self._batch_sizes:
      e, c = self._patch_outputs(np.zeros((size, *PATCH_SHAPE), np.float32))
    self._window_probabilities(np.zeros((1, self.patches_per_window, e.shape[-1]), np.float32),
                               np.zeros((1, self.patches_per_window, c.shape[-1]), np.float32))

  def _patch_outputs(self, patches: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """[N, 96, 64] -> ([N, 1024], [N, 521]): full batches, then the rest padded to the
    smallest batch size that holds it."""
    embeddings, class_logits = [], []
    for first in range(0, len(patches), self.batch_patches):
      part = patches[first:first + self.batch_patches]
      size = next(b for b in self._batch_sizes if b >= len(part))
      padded = np.zeros((size,) + part.shape[1:], np.float32)
      padded[:len(part)] = part
      e, c = self._outputs(self._variables, padded)
      embeddings.append(np.asarray(e)[:len(part)])
      class_logits.append(np.asarray(c)[:len(part)])
    return np.concatenate(embeddings), np.concatenate(class_logits)

  def _window_probabilities(self, embeddings: np.ndarray, class_logits: np.ndarray) -> np.ndarray:
    """[W, P, 1024], [W, P, 521] -> [W] crying probabilities (W >= 1), in fixed-size batches."""
    count, out = len(embeddings), []
    for first in range(0, count, self.batch_windows):
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
    step = hop_patches(hop_s)
    plan = media_windows.window_starts(duration_s, spec, hop_s)
    full = [start_s for start_s, padded in plan if not padded]
    tail = [start_s for start_s, padded in plan if padded]   # a padded last window, or none
    num_patches = (len(full) - 1) * step + per_window if full else 0
    chunks = self._chunks(num_patches)
    spans = [patch_span(first, last) for first, last in chunks]
    audio = media_audio.iter_audio_16k(path, spec, spans)
    windows = PatchWindows(self, step)
    tail_window, tail_patches = None, np.zeros((0, *PATCH_SHAPE), np.float32)
    for (first, last), (start_s, span_s) in zip(chunks, spans):
      t0 = time.perf_counter()
      chunk_audio = next(audio)
      if last == num_patches and tail:   # the padded window's patches join the last call
        tail_window = media_windows.window_at(path, spec, tail[0], duration_s - tail[0])
      t1 = time.perf_counter()
      log_mel = patch_log_mel(chunk_audio)
      if log_mel_sink is not None:   # the frames the next chunk does not start with
        shown = (last - first) * yamnet_features.PATCH_HOP_FRAMES if last < num_patches else None
        log_mel_sink(start_s, log_mel[:shown])
      patches = yamnet_features.patches(log_mel)[:last - first]
      if tail_window is not None:
        tail_log_mel, tail_patches = self.padded_features(tail_window.audio_16k)
        if log_mel_sink is not None:   # the media after the last full window
          log_mel_sink(*content_frames(tail_window, tail_log_mel, start_s + span_s))
      t2 = time.perf_counter()
      e, c = self._patch_outputs(np.concatenate([patches, tail_patches]))
      for window, probability in windows.push_outputs(e[:len(patches)], c[:len(patches)]):
        yield full[window], spec.window_s, False, probability
      timings["decode"] += t1 - t0
      timings["features"] += t2 - t1
      timings["model"] += time.perf_counter() - t2
    if tail:
      if tail_window is None:   # no full window: the padded one is the file's only window
        tail_window, e, c = self._only_window(path, tail[0], duration_s, timings, log_mel_sink)
      t0 = time.perf_counter()
      probability = float(self._window_probabilities(e[None, -per_window:],
                                                     c[None, -per_window:])[0])
      timings["model"] += time.perf_counter() - t0
      yield tail_window.start_s, tail_window.duration_s, tail_window.padded, probability

  def _only_window(self, path: str, start_s: float, duration_s: float, timings: dict[str, float],
                   log_mel_sink) -> tuple[Any, np.ndarray, np.ndarray]:
    """(the padded window of a file shorter than one window, its patches' outputs)."""
    t0 = time.perf_counter()
    window = media_windows.window_at(path, self.spec, start_s, duration_s - start_s)
    t1 = time.perf_counter()
    log_mel, patches = self.padded_features(window.audio_16k)
    if log_mel_sink is not None:
      log_mel_sink(*content_frames(window, log_mel, window.start_s))
    t2 = time.perf_counter()
    e, c = self._patch_outputs(patches)
    timings["decode"] += t1 - t0
    timings["features"] += t2 - t1
    timings["model"] += time.perf_counter() - t2
    return window, e, c

  def padded_features(self, audio_16k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(log-mel [T, 64], patches [patches_per_window, 96, 64]) of a padded window, from its
    16 kHz audio (content looped, see media_audio.audio_16k); they are no file's patches."""
    log_mel = padded_log_mel(audio_16k, self.spec)
    return log_mel, yamnet_features.patches(log_mel)[:self.patches_per_window]

  def padded_probability(self, audio_16k: np.ndarray) -> float:
    """The probability of a padded window, from its 16 kHz audio, scored on its own."""
    e, c = self._patch_outputs(self.padded_features(audio_16k)[1])
    return float(self._window_probabilities(e[None], c[None])[0])


class PatchWindows:
  """Windows' probabilities from a file's or a stream's patches, pushed in order, each once.

  Window w reads patches [w * step, w * step + patches_per_window). Only the
  outputs of patches that a window not yet scored reads are kept, so memory stays
  bounded however long the stream.
  """

  def __init__(self, scorer: PatchScorer, step: int):
    self._scorer, self._step = scorer, step
    self._kept_from = 0       # index of the first patch whose outputs are kept
    self._received = 0        # patches pushed so far
    self._next_window = 0
    self._embeddings: np.ndarray | None = None
    self._class_logits: np.ndarray | None = None

  @property
  def received(self) -> int:
    """Patches pushed so far."""
    return self._received

  @property
  def patches_per_window(self) -> int:
    return self._scorer.patches_per_window

  def push(self, patches: np.ndarray) -> list[tuple[int, float]]:
    """Patches [N, 96, 64] (those after the last push) -> (window index, probability) of the
    windows they complete, in order."""
    if len(patches) == 0:
      return []
    return self.push_outputs(*self._scorer._patch_outputs(patches))

  def push_outputs(self, e: np.ndarray, c: np.ndarray) -> list[tuple[int, float]]:
    """As push, from the patches' model outputs (embeddings [N, 1024], class logits [N, 521])."""
    if len(e) == 0:
      return []
    if self._embeddings is None or len(self._embeddings) == 0:
      self._embeddings, self._class_logits = e, c
    else:
      self._embeddings = np.concatenate([self._embeddings, e])
      self._class_logits = np.concatenate([self._class_logits, c])
    self._received += len(e)
    per_window, ready = self._scorer.patches_per_window, []
    while self._next_window * self._step + per_window <= self._received:
      ready.append(self._next_window)
      self._next_window += 1
    out = []
    if ready:
      offsets = [w * self._step - self._kept_from for w in ready]
      probabilities = self._scorer._window_probabilities(
          np.stack([self._embeddings[i:i + per_window] for i in offsets]),
          np.stack([self._class_logits[i:i + per_window] for i in offsets]))
      out = [(w, float(p)) for w, p in zip(ready, probabilities)]
    drop = min(self._next_window * self._step, self._received) - self._kept_from
    self._embeddings, self._class_logits = self._embeddings[drop:], self._class_logits[drop:]
    self._kept_from += drop
    return out


def hop_patches(hop_s: float) -> int:
  """Patch hops between window starts for a snapped hop_s."""
  return int(round(hop_s / yamnet_features.PATCH_HOP_S))


def patch_span(first: int, last: int) -> tuple[float, float]:
  """(start_s, duration_s) of the 16 kHz audio that patches first..last-1 read."""
  return (first * yamnet_features.PATCH_HOP_S,
          ((last - first - 1) * yamnet_features.PATCH_HOP_SAMPLES + yamnet_features.PATCH_SAMPLES)
          / yamnet_features.SAMPLE_RATE)


def content_frames(window: Any, log_mel: np.ndarray, from_s: float) -> tuple[float, np.ndarray]:
  """(start_s, frames) of a padded window's YAMNet log-mel that show its media from from_s on,
  not the loop."""
  frame_s = yamnet_features.STFT_HOP / yamnet_features.SAMPLE_RATE
  content = yamnet_features.num_frames(int(round(window.duration_s * yamnet_features.SAMPLE_RATE)))
  first = min(content, max(0, math.ceil((from_s - window.start_s) / frame_s - 1e-6)))
  return window.start_s + first * frame_s, log_mel[first:content]


def padded_log_mel(audio_16k: np.ndarray, spec) -> np.ndarray:
  """float32 [T, 64]: a padded window's YAMNet log-mel, as records store it."""
  return features.yamnet_log_mel(audio_16k, spec).astype(np.float32)


def patch_log_mel(audio_16k: np.ndarray) -> np.ndarray:
  """float32 [T, 64]: YAMNet's log-mel of 16 kHz audio, through float16 as records store it."""
  return yamnet_features.log_mel(audio_16k).astype(np.float16).astype(np.float32)
