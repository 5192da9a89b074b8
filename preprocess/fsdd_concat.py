"""Spoken digits (FSDD) joined into files of one window each, speaker by speaker.

FSDD clips last 0.1-2.3 s, most of them less than the pipeline's 1 s minimum,
so the recipes join clips of one speaker, with a short silence between them,
until they fill one window, and cut the file to exactly one window.
"""
from __future__ import annotations

import collections
import pathlib
import random
import re
import wave
from typing import Optional

import numpy as np

from babycry_jax.data import schema
from preprocess.recipe_inputs import RecipeError

_FSDD_NAME = re.compile(r"^(\d)_([A-Za-z]+)_(\d+)\.wav$")


def fsdd_speaker(file_name: str) -> str:
  """The speaker of an FSDD file `<digit>_<speaker>_<index>.wav`."""
  match = _FSDD_NAME.match(file_name)
  if not match:
    raise RecipeError(f"{file_name}: an FSDD file name must look like <digit>_<speaker>_<index>.wav")
  return match.group(2).lower()


def _read_pcm16(path: pathlib.Path) -> tuple[np.ndarray, int]:
  """Samples [n] int16 and the sample rate of a mono 16-bit WAV."""
  try:
    with wave.open(str(path)) as w:
      if w.getnchannels() != 1 or w.getsampwidth() != 2:
        raise RecipeError(f"{path}: FSDD clips must be mono 16-bit PCM, got "
                          f"{w.getnchannels()} channels, {8 * w.getsampwidth()}-bit")
      return np.frombuffer(w.readframes(w.getnframes()), np.int16), w.getframerate()
  except (wave.Error, EOFError) as e:
    raise RecipeError(f"{path}: not a readable PCM WAV ({e})") from None


def _write_pcm16(path: pathlib.Path, samples: np.ndarray, sample_rate: int) -> None:
  with wave.open(str(path), "wb") as w:
    w.setnchannels(1)
    w.setsampwidth(2)
    w.setframerate(sample_rate)
    w.writeframes(samples.astype(np.int16).tobytes())


def _one_window(queue: list[pathlib.Path], speaker: str, window_s: float,
                gap_s: float) -> Optional[tuple[np.ndarray, list[str], int]]:
  """Takes clips off the front of queue until they fill window_s.

  Returns (int16 samples [window_s * rate], the clips' names, rate), or None
  when the queue ran out first (the clips taken are used up all the same).
  """
  parts, names, total, rate = [], [], 0, None
  while queue:
    samples, clip_rate = _read_pcm16(queue[0])
    if rate is None:
      rate = clip_rate
    elif clip_rate != rate:
      raise RecipeError(f"{queue[0]}: {clip_rate} Hz, other clips of {speaker} have {rate} Hz")
    if parts:
      parts.append(np.zeros(int(round(gap_s * rate)), np.int16))
    parts.append(samples)
    names.append(queue.pop(0).name)
    total = sum(len(p) for p in parts)
    if total >= window_s * rate:
      break
  if rate is None or total < window_s * rate:
    return None
  return np.concatenate(parts)[:int(round(window_s * rate))], names, rate


def concatenate_fsdd(fsdd_dir: pathlib.Path, out_dir: pathlib.Path, num_files: int,
                     spec: schema.FeatureSpec, gap_s: float = 0.25, seed: int = 0,
                     ) -> tuple[list[tuple[str, str, list[str]]], dict[str, int]]:
  """Joins clips of one speaker into files of at least one window.

  Speakers take turns, so num_files is spread evenly; within a speaker the
  clips are used in a seeded random order, each at most once.

  Args:
    fsdd_dir: the folder of `<digit>_<speaker>_<index>.wav` clips.
    out_dir: where `<speaker>_<k>.wav` files are written (must exist).
    num_files: files to write in all (fewer when the clips run out).
    spec: its window_s is the minimum length of a file.
    gap_s: silence between two clips.
    seed: clip order.

  Returns:
    ([(file name, speaker, [clip names])], {speaker: clips available}); the
    last clip named may be cut short.
  """
  by_speaker: dict[str, list[pathlib.Path]] = collections.defaultdict(list)
  for path in sorted(fsdd_dir.glob("*.wav")):
    by_speaker[fsdd_speaker(path.name)].append(path)
  if not by_speaker:
    raise RecipeError(f"{fsdd_dir}: no FSDD clips (<digit>_<speaker>_<index>.wav)")
  queues = {}
  for speaker, paths in sorted(by_speaker.items()):
    order = list(paths)
    random.Random(f"{seed}:{speaker}").shuffle(order)
    queues[speaker] = order
  written: list[tuple[str, str, list[str]]] = []
  counters = {speaker: 0 for speaker in queues}
  active = sorted(queues)
  while len(written) < num_files and active:
    for speaker in list(active):
      if len(written) >= num_files:
        break
      joined = _one_window(queues[speaker], speaker, spec.window_s, gap_s)
      if joined is None:
        active.remove(speaker)   # its remaining clips cannot fill a window
        continue
      samples, names, rate = joined
      name = f"{speaker}_{counters[speaker]:03d}.wav"
      counters[speaker] += 1
      _write_pcm16(out_dir / name, samples, rate)
      written.append((name, speaker, names))
  return written, {speaker: len(paths) for speaker, paths in by_speaker.items()}
