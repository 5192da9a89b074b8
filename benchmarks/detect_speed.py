"""Detection speed: seconds of media processed per second of wall time, with a breakdown.

    python -m benchmarks --only detect [--quick]

A generated video (320x240 at 25 fps, H.264, with an AAC audio track holding
cry-like harmonic bursts) goes through the whole detect path: probe,
media_windows.iter_windows decoding, features.window_features, the decoder's
normalization and the batched jitted model, then the JSON/CSV/PNG outputs.
Without --workdir a small paper-spec dataset is written and the default
model (configs/default.py, full size) is trained for one step, so the model
cost is that of the real architecture. Compilation happens before the clock
starts, as it does once per detect process.
"""
from __future__ import annotations

import fractions
import os
import shutil
import sys
import tempfile
import time
from typing import Any, Optional, Sequence

import numpy as np

FRAME_SIZE = (320, 240)
FRAME_RATE = 25
SAMPLE_RATE_HZ = 16000


def write_test_video(path: str, duration_s: float, cry_spans_s: Sequence[tuple[float, float]] = (),
                     seed: int = 0) -> str:
  """Writes an MP4 (H.264 + AAC) of duration_s, frame by frame (bounded memory).

  The picture is a noisy gray background with a moving bright square; the
  audio is soft noise plus, within each (start_s, end_s) of cry_spans_s, a
  harmonic tone near 450 Hz with vibrato.
  """
  import av

  rng = np.random.default_rng(seed)
  width, height = FRAME_SIZE
  with av.open(path, mode="w", format="mp4") as container:
    video = container.add_stream("libx264", rate=FRAME_RATE,
                                 options={"preset": "ultrafast", "crf": "28"})
    video.width, video.height, video.pix_fmt = width, height, "yuv420p"
    audio = container.add_stream("aac", rate=SAMPLE_RATE_HZ, layout="mono")
    audio.bit_rate = 48_000
    chunk = audio.codec_context.frame_size or 1024
    total_samples = int(round(duration_s * SAMPLE_RATE_HZ))
    next_sample = 0
    for i in range(int(round(duration_s * FRAME_RATE))):
      t_s = i / FRAME_RATE
      img = np.full((height, width, 3), 90, np.uint8)
      img += rng.integers(0, 20, (height, width, 1), dtype=np.uint8)
      x = int((np.sin(t_s) * 0.4 + 0.5) * (width - 40))
      img[100:140, x:x + 40] = 230
      frame = av.VideoFrame.from_ndarray(img, format="rgb24")
      frame.pts = i
      frame.time_base = fractions.Fraction(1, FRAME_RATE)
      container.mux(video.encode(frame))
      # Audio up to the end of this frame, in whole encoder frames.
      until = min(int((i + 1) / FRAME_RATE * SAMPLE_RATE_HZ), total_samples)
      while next_sample + chunk <= until or (until == total_samples and next_sample < total_samples):
        n = np.arange(next_sample, next_sample + chunk)
        t = n / SAMPLE_RATE_HZ
        samples = 0.02 * rng.standard_normal(chunk)
        for start_s, end_s in cry_spans_s:
          inside = (t >= start_s) & (t < end_s)
          f0 = 450 + 40 * np.sin(2 * np.pi * 5 * t)
          phase = 2 * np.pi * np.cumsum(f0) / SAMPLE_RATE_HZ
          tone = sum(np.sin(k * phase) / k for k in (1, 2, 3, 4))
          samples = samples + 0.3 * inside * tone
        samples[n >= total_samples] = 0.0
        piece = av.AudioFrame.from_ndarray(samples[None, :].astype(np.float32), format="fltp",
                                           layout="mono")
        piece.sample_rate = SAMPLE_RATE_HZ
        piece.pts = next_sample
        piece.time_base = fractions.Fraction(1, SAMPLE_RATE_HZ)
        container.mux(audio.encode(piece))
        next_sample += chunk
    container.mux(video.encode(None))
    container.mux(audio.encode(None))
  return path


def _train_default_model(work_dir: str, model: Optional[str]) -> str:
  """A one-step run of the default config (or `model`) on a tiny paper-spec dataset."""
  sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
  import synthetic_dataset
  from configs import default
  from babycry_jax import console, trainer
  from babycry_jax.data import schema

  console.logger().setLevel("WARNING")
  dataset_dir = synthetic_dataset.write(
      os.path.join(work_dir, "dataset"), sizes={"train": 16, "validation": 4, "test": 4},
      spec=schema.preset("paper"), num_shards=1)
  config = default.get_config()
  config.dataset_dir = dataset_dir
  if model:
    config.model = model
    if model == "svm":
      config.loss = "hinge"
  config.batch_size = 16
  config.num_epochs = 1
  workdir = os.path.join(work_dir, "run")
  trainer.train_and_evaluate(config, workdir)
  return workdir


def run(workdir: Optional[str] = None, duration_s: float = 60.0, hop_s: float = 1.0,
        model: Optional[str] = None, verbose: bool = True) -> dict[str, Any]:
  """Measures detection speed as a multiple of real time on this machine.

  Args:
    workdir: a trained run with a paper-spec dataset; None trains the default
      model for one step on a tiny generated dataset first.
    duration_s: length of the generated video.
    hop_s: window hop.
    model: with workdir None, a model name other than the default config's.
    verbose: print the result.

  Returns:
    {"realtime_factor": media seconds per wall second, "duration_s", "wall_s",
     "num_windows", "model", "breakdown_s": {probe, decode, features, model,
     outputs}, "breakdown_fraction": {...}, "compile_s", "cpu_count"}
  """
  from babycry_jax import detection, detection_files

  work_dir = tempfile.mkdtemp(prefix="detect_speed_")
  try:
    if workdir is None:
      workdir = _train_default_model(work_dir, model)
    video_path = write_test_video(os.path.join(work_dir, "speed.mp4"), duration_s,
                                  cry_spans_s=[(10.0, 20.0), (35.0, 41.0)])
    detector = detection.Detector(workdir)
    started = time.perf_counter()
    done, failed = detection_files.detect_files(detector, [video_path], os.path.join(work_dir, "out"),
                                       hop_s=hop_s)
    wall_s = time.perf_counter() - started
    if failed:
      raise RuntimeError(f"detection failed: {failed[video_path]}")
    detection = done[video_path]
    timings = dict(detection.timings_s)
    breakdown = {k: timings[k] for k in ("probe", "decode", "features", "model")}
    breakdown["outputs"] = wall_s - timings["total"]
    result = {
        "realtime_factor": detection.duration_s / wall_s,
        "duration_s": detection.duration_s,
        "wall_s": wall_s,
        "num_windows": int(len(detection.probabilities)),
        "hop_s": hop_s,
        "model": detector.model_name,
        "modalities": list(detection.modalities_used),
        "breakdown_s": breakdown,
        "breakdown_fraction": {k: v / wall_s for k, v in breakdown.items()},
        "compile_s": detector.compile_s,
        "cpu_count": os.cpu_count(),
    }
  finally:
    shutil.rmtree(work_dir, ignore_errors=True)
  if verbose:
    print(f"detect: {result['duration_s']:.1f} s of video ({result['num_windows']} windows, hop "
          f"{hop_s:g} s, {result['model']}) in {wall_s:.2f} s = "
          f"{result['realtime_factor']:.1f}x real time on {result['cpu_count']} CPUs")
    print("  " + ", ".join(f"{k} {v:.2f} s ({100 * result['breakdown_fraction'][k]:.0f}%)"
                           for k, v in breakdown.items()) + f"; compile {result['compile_s']:.1f} s")
  return result
