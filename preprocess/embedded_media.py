"""The embedded default dataset: synthetic audio-video clips built on the spot.

A newcomer's first command needs data without any download, so this module
renders `num_clips` clips of 4.0 s each as real media files with a video and an
audio track, deterministically from a seed:

  output_dir/crying/<name>.mp4       H.264 video + AAC audio (about 85%)
  output_dir/not_crying/<name>.avi   MPEG-4 part 2 video + MP3 audio (about 15%)
  output_dir/manifest.csv            path,label,group,kind

Video is 160x120 RGB at 15, 12.5 or 25 fps (chosen per clip, so that the
pipeline must align by timestamps); audio is mono 16 kHz. Each clip is its own
source, so `group` is the clip name. The kinds of scene, their labels and
shares are listed in preprocess.synthetic_clips; the sounds are made in
synthetic_audio, the pictures in synthetic_video, the files in clip_encoding.

A clip depends only on (seed, clip index), so the worker count does not change
the output; encoders run single-threaded with fixed settings, so the same seed
gives the same bytes on one machine.

`build_dataset` renders the clips and runs the Beam job over them; the
training command calls it when the embedded default's dataset is missing.
Command line: `python -m preprocess.embedded_default --output DIR [--num_clips N] [--seed S]`.
"""
from __future__ import annotations

import concurrent.futures
import csv
import json
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
from typing import Callable

import numpy as np

from preprocess import clip_encoding, synthetic_clips
from preprocess.synthetic_clips import GENERATOR_VERSION, KINDS

AVI_SHARE = 0.15
MANIFEST_NAME = "manifest.csv"
PARAMS_NAME = "generator.json"
MANIFEST_COLUMNS = ("path", "label", "group", "kind")


def plan_clips(num_clips: int, seed: int) -> list[dict]:
  """Which kind, label, name and container each clip gets (no media rendered)."""
  if num_clips < 1:
    raise ValueError(f"num_clips must be at least 1, got {num_clips}")
  shares = np.array([kind.share for kind in KINDS.values()])
  exact = shares * num_clips
  counts = np.floor(exact).astype(int)
  # Largest remainders get the clips left over, so shares hold for any count.
  for k in np.argsort(-(exact - counts), kind="stable")[:num_clips - counts.sum()]:
    counts[k] += 1
  kinds = np.repeat(np.array(list(KINDS)), counts)
  rng = np.random.default_rng([seed, GENERATOR_VERSION])
  kinds = kinds[rng.permutation(num_clips)]
  avi = np.zeros(num_clips, bool)
  avi[rng.choice(num_clips, size=int(round(AVI_SHARE * num_clips)), replace=False)] = True
  plan = []
  for index, kind in enumerate(kinds):
    name = f"s{seed}_{index:04d}"
    label = KINDS[str(kind)].label
    plan.append(dict(index=index, name=name, kind=str(kind), label=label,
                     path=f"{label}/{name}.{'avi' if avi[index] else 'mp4'}"))
  return plan


def _make_clip(root: str, seed: int, item: dict) -> str:
  clip = synthetic_clips.render_clip(seed, item["index"], item["kind"])
  clip_encoding.encode_clip(os.path.join(root, item["path"]), clip)
  return item["path"]


def read_manifest(output_dir: str) -> list[dict]:
  """The manifest rows of a finished dataset: dicts with path, label, group, kind."""
  with open(os.path.join(output_dir, MANIFEST_NAME), newline="") as f:
    return [dict(row) for row in csv.DictReader(f)]


def _params(num_clips: int, seed: int) -> dict:
  return dict(num_clips=num_clips, seed=seed, version=GENERATOR_VERSION)


def _existing(output_dir: str, num_clips: int, seed: int) -> list[dict]:
  params_path = os.path.join(output_dir, PARAMS_NAME)
  if not os.path.isfile(params_path) or not os.path.isfile(
      os.path.join(output_dir, MANIFEST_NAME)):
    raise FileExistsError(
        f"{output_dir} exists but is not a finished embedded default dataset (no "
        f"{MANIFEST_NAME}/{PARAMS_NAME}); remove it or choose another output directory")
  with open(params_path) as f:
    found = json.load(f)
  if found != _params(num_clips, seed):
    raise FileExistsError(f"{output_dir} holds an embedded default dataset made with {found}, "
                          f"not {_params(num_clips, seed)}; remove it or choose another directory")
  rows = read_manifest(output_dir)
  missing = [r["path"] for r in rows if not os.path.isfile(os.path.join(output_dir, r["path"]))]
  if missing:
    raise FileNotFoundError(f"{output_dir} lacks {len(missing)} listed clips, e.g. {missing[0]}")
  return rows


def _progress(num_clips: int, enabled: bool) -> Callable[[int], None]:
  """report(done): a line on stderr at every tenth of the clips and at the last, if enabled."""
  started = time.monotonic()
  report_every = max(1, num_clips // 10)

  def report(done: int) -> None:
    if enabled and (done % report_every == 0 or done == num_clips):
      print(f"embedded_default: {done}/{num_clips} clips ({time.monotonic() - started:.1f} s)",
            file=sys.stderr, flush=True)
  return report


def _make_clips(root: str, seed: int, plan: list[dict], workers: int,
                report: Callable[[int], None]) -> None:
  """Renders and encodes every planned clip under root, in `workers` processes."""
  if workers <= 1:
    for done, item in enumerate(plan, 1):
      _make_clip(root, seed, item)
      report(done)
    return
  # Spawned workers: safe even when the caller already started JAX threads.
  context = multiprocessing.get_context("spawn")
  with concurrent.futures.ProcessPoolExecutor(min(workers, len(plan)), mp_context=context) as pool:
    futures = [pool.submit(_make_clip, root, seed, item) for item in plan]
    for done, future in enumerate(concurrent.futures.as_completed(futures), 1):
      future.result()
      report(done)


def _write_manifest(root: str, rows: list[dict], num_clips: int, seed: int) -> None:
  with open(os.path.join(root, MANIFEST_NAME), "w", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=MANIFEST_COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
  with open(os.path.join(root, PARAMS_NAME), "w") as f:
    json.dump(_params(num_clips, seed), f)


def generate(output_dir: str, num_clips: int = 600, seed: int = 0, workers: int = 2,
             progress: bool = True) -> list[dict]:
  """Writes the embedded default dataset to output_dir and returns its manifest rows.

  Clips are rendered in a temporary sibling directory that is renamed to
  output_dir only once every file and the manifest are written. An existing,
  finished output_dir made with the same parameters is returned as is.

  Returns:
    one dict per clip: path (relative to output_dir), label, group, kind.
  """
  output_dir = os.path.abspath(output_dir)
  if os.path.exists(output_dir):
    return _existing(output_dir, num_clips, seed)
  plan = plan_clips(num_clips, seed)
  parent = os.path.dirname(output_dir)
  os.makedirs(parent, exist_ok=True)
  tmp = tempfile.mkdtemp(prefix=os.path.basename(output_dir) + ".partial-", dir=parent)
  try:
    for label in ("crying", "not_crying"):
      os.makedirs(os.path.join(tmp, label))
    _make_clips(tmp, seed, plan, workers, _progress(num_clips, progress))
    rows = [dict(path=p["path"], label=p["label"], group=p["name"], kind=p["kind"])
            for p in plan]
    _write_manifest(tmp, rows, num_clips, seed)
    try:
      os.rename(tmp, output_dir)
    except OSError:
      if not os.path.isdir(output_dir):
        raise
      # Another process finished the same dataset first: use theirs.
      shutil.rmtree(tmp, ignore_errors=True)
      return _existing(output_dir, num_clips, seed)
    return rows
  except BaseException:
    shutil.rmtree(tmp, ignore_errors=True)
    raise


# ----------------------------------------------------------------------------
# The embedded default dataset, as the main command uses it.
# ----------------------------------------------------------------------------

DATASET_DIR = "data/embedded_default"     # relative to the current directory
MEDIA_DIR = "data/embedded_default_media"
NUM_CLIPS = 600
SEED = 0


def is_default_dataset(dataset_dir: str) -> bool:
  """True when `dataset_dir` is the embedded default's own dataset path."""
  return os.path.abspath(dataset_dir) == os.path.abspath(DATASET_DIR)


def build_dataset(dataset_dir: str = DATASET_DIR, media_dir: str = MEDIA_DIR,
                  num_clips: int = NUM_CLIPS, seed: int = SEED) -> dict:
  """Renders the embedded default media into media_dir, then runs the Beam job into dataset_dir.

  Returns the Beam job's summary (see preprocess.pipeline.build_dataset).
  """
  from babycry_jax.data import schema
  from preprocess import pipeline
  generate(media_dir, num_clips=num_clips, seed=seed)
  return pipeline.build_dataset(media_dir, dataset_dir, schema.preset("paper"))
