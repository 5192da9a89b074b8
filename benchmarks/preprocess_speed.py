"""Preprocessing speed: the Beam job with 1 and 2 workers against a plain loop.

    python -m benchmarks --only preprocess [--quick]

All three modes run in one process on the same files with the same feature
code (media.iter_windows -> features.window_features -> encode -> serialize).
The Beam times are end to end (pipeline start-up, worker start-up, writing
the dataset dir); the loop only decodes, computes and serializes, so the gap
is the job's overhead. A warm-up window is computed first, so librosa's
one-off start-up cost (~3 s) is paid before the loop and by each Beam worker
process (as it is in real runs) but not by the in-process 1-worker run.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from typing import Any, Optional, Sequence

from babycry_jax.data import schema


def sequential_loop(input_path: str, spec: schema.FeatureSpec) -> dict[str, float]:
  """Decodes and serializes every window of every input in one Python loop."""
  from tensorflow_datasets.core import example_serializer

  from preprocess import dataset_writer, sources
  from babycry_jax.data import features, media

  feature_dict = schema.features_dict(spec)
  serializer = example_serializer.ExampleSerializer(feature_dict.get_serialized_info())
  started = time.perf_counter()
  num_records = 0
  for item in sources.discover(input_path).items:
    try:
      for window in media.iter_windows(item.path, spec, hop_s=spec.hop_s):
        feats = features.window_features(window, spec)
        example = {"clip_id": f"{item.source_id}@{int(round(window.start_s * 1000))}",
                   "source_id": item.source_id, "label": item.label,
                   "start_s": window.start_s, "duration_s": window.duration_s, "padded": window.padded,
                   **{k: feats[k] for k in ("audio/log_mel", "audio/mfcc_stats", "video/frames",
                                            "has_audio", "has_video")}}
        dataset_writer.serialize_example(serializer, feature_dict.encode_example(example))
        num_records += 1
    except media.MediaError:
      continue
  elapsed_s = time.perf_counter() - started
  return {"records": num_records, "seconds": elapsed_s, "clips_per_s": num_records / elapsed_s}


def _warm_up(input_path: str, spec: schema.FeatureSpec) -> None:
  from preprocess import sources
  from babycry_jax.data import features, media
  for item in sources.discover(input_path).items:
    try:
      features.window_features(next(iter(media.iter_windows(item.path, spec))), spec)
      return
    except (media.MediaError, StopIteration):
      continue


def beam_job(input_path: str, spec: schema.FeatureSpec, workers: int, work_dir: str) -> dict[str, float]:
  from preprocess import pipeline
  out = os.path.join(work_dir, f"dataset_{workers}w")
  summary = pipeline.build_dataset(input_path, out, spec, direct_num_workers=workers,
                                   overwrite=True, log=lambda s: None)
  return {"records": summary["num_records"], "seconds": summary["elapsed_s"],
          "clips_per_s": summary["clips_per_s"]}


def run(input_path: Optional[str] = None, num_clips: int = 24, workers: Sequence[int] = (1, 2),
        preset: str = "paper", verbose: bool = True) -> dict[str, Any]:
  """Measures clips/s of the loop and of the Beam job per worker count.

  Args:
    input_path: any input `python -m preprocess` accepts; None generates
      `num_clips` embedded-default clips (4 s, 160x120 video + audio) first.
    num_clips: clips to generate when input_path is None.
    workers: Beam DirectRunner worker counts to measure.
    preset: feature preset.
    verbose: print the table.

  Returns:
    {"input": ..., "cpu_count": n, "sequential": {...}, "beam_1_workers": {...}, ...}
    with records, seconds and clips_per_s for each mode.
  """
  spec = schema.preset(preset)
  work_dir = tempfile.mkdtemp(prefix="preprocess_speed_")
  try:
    if input_path is None:
      from preprocess import embedded_media
      input_path = os.path.join(work_dir, "clips")
      embedded_media.generate(input_path, num_clips=num_clips, seed=0, progress=False)
    _warm_up(input_path, spec)
    results: dict[str, Any] = {"input": input_path, "cpu_count": os.cpu_count(), "preset": preset}
    results["sequential"] = sequential_loop(input_path, spec)
    for n in workers:
      results[f"beam_{n}_workers"] = beam_job(input_path, spec, n, work_dir)
  finally:
    shutil.rmtree(work_dir, ignore_errors=True)
  if verbose:
    print(format_table(results))
  return results


def format_table(results: dict[str, Any]) -> str:
  lines = [f"input: {results['input']}  ({results['cpu_count']} CPUs, preset {results['preset']})",
           f"{'mode':<16} {'records':>8} {'seconds':>9} {'clips/s':>9}"]
  for mode, r in results.items():
    if isinstance(r, dict) and "clips_per_s" in r:
      lines.append(f"{mode:<16} {r['records']:>8} {r['seconds']:>9.2f} {r['clips_per_s']:>9.2f}")
  return "\n".join(lines)
