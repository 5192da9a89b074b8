"""Input pipeline speed: our TF-free loader against tf.data on the same TFRecord shards.

    python -m benchmarks --only input [--quick]

Ours is babycry_jax.input_pipeline (the Grain loader, global batch 32, with 0,
1 and 2 worker processes and with the config's default, -1) on the
train split, timed to normalized batches in this process; the baseline, in the TensorFlow venv, is
the usual tf.data recipe over the same shard files: TFRecordDataset ->
shuffle -> map(tf.io.parse_single_example with the schema's feature spec, the
same crop to 300 mel frames / 18 frames and the same normalization, parallel)
-> batch(32) -> prefetch, read as numpy. Both repeat epochs, so a few hundred
records suffice.

Without --dataset_dir the suite generates embedded-default clips and runs the
Beam job once, keeping the result in ~/.cache/babycry_jax (outside the repo)
for later runs.
"""
from __future__ import annotations

import json
import os
from typing import Any, Optional

from benchmarks import Protocol, time_calls

BATCH_SIZE = 32
AUDIO_FRAMES = 300
VIDEO_FRAMES = 18
# The tfrecord value lists each feature is stored in (see schema.features_dict):
# floats (float16 ones too) as float_list, integers and bools as int64_list,
# the frames as one bytes value of uint8 pixels.
_FLOAT_FEATURES = ("audio/log_mel", "audio/mfcc_stats")
_INT_FEATURES = ("label", "has_audio", "has_video")
_BYTES_FEATURES = ("video/frames",)


def cache_dir() -> str:
  return os.path.join(os.path.expanduser("~"), ".cache", "babycry_jax")


def ensure_dataset(num_clips: int = 160, seed: int = 0, log=print) -> str:
  """A paper-preset dataset dir built by the Beam job from embedded-default clips (cached)."""
  from babycry_jax.data import schema
  root = os.path.join(cache_dir(), f"input_bench_{num_clips}_clips_seed{seed}_"
                      f"format{schema.RECORD_FORMAT}")
  dataset_dir = os.path.join(root, "dataset")
  if os.path.exists(os.path.join(dataset_dir, schema.METADATA_FILE)):
    return dataset_dir
  from preprocess import embedded_media
  from preprocess.pipeline import build_dataset
  log(f"[input] building a {num_clips}-clip dataset under {root} (once; it is kept)")
  media_dir = os.path.join(root, "media")
  embedded_media.generate(media_dir, num_clips=num_clips, seed=seed, progress=False)
  # build_dataset makes the dir appear only when complete, so a cut run leaves nothing half-made.
  build_dataset(media_dir, dataset_dir, schema.preset("paper"), overwrite=True, log=lambda s: None)
  return dataset_dir


def tf_data_spec(dataset_dir: str, split: str = "train", audio_frames: int = AUDIO_FRAMES,
                 video_frames: int = VIDEO_FRAMES, batch_size: int = BATCH_SIZE) -> dict[str, Any]:
  """Everything the tf.data side needs, as JSON: shard files, shapes and normalization stats."""
  from babycry_jax.data import schema
  metadata = schema.read_metadata(dataset_dir)
  spec = schema.FeatureSpec.from_json(metadata["feature_spec"])
  stats = metadata["stats"]
  files = sorted(os.path.join(dataset_dir, name) for name in os.listdir(dataset_dir)
                 if name.startswith(f"babycry-{split}.tfrecord-") and not name.endswith(".index"))
  if not files:
    raise FileNotFoundError(f"no {split} shards in {dataset_dir}")
  return {
      "files": files,
      "shapes": {"audio/log_mel": [spec.mel_frames, spec.n_mels],
                 "audio/mfcc_stats": [spec.mfcc_stats_dim],
                 "video/frames": [spec.num_frames, spec.frame_size, spec.frame_size, spec.channels],
                 "label": [], "has_audio": [], "has_video": []},
      "float_features": list(_FLOAT_FEATURES),
      "int_features": list(_INT_FEATURES),
      "bytes_features": list(_BYTES_FEATURES),
      "audio_frames": audio_frames,
      "video_frames": video_frames,
      "batch_size": batch_size,
      "mel_mean": float(stats["audio/log_mel"]["mean"]),
      "mel_std": float(max(stats["audio/log_mel"]["std"], 1e-6)),
      "mfcc_mean": [float(v) for v in stats["audio/mfcc_stats"]["mean"]],
      "mfcc_std": [float(max(v, 1e-6)) for v in stats["audio/mfcc_stats"]["std"]],
      "frame_mean": float(stats["video/frames"]["mean"]),
      "frame_std": float(max(stats["video/frames"]["std"], 1e-6)),
  }


def measure_ours(dataset_dir: str, protocol: Protocol, worker_count: int = -1,
                 batch_size: int = BATCH_SIZE, audio_frames: int = AUDIO_FRAMES,
                 video_frames: int = VIDEO_FRAMES) -> dict[str, Any]:
  """Examples/s of the Grain loader handing out normalized training batches.

  Returns:
    {"examples_per_s", "seconds_per_batch", "runs_s", "records", "batch_size", "worker_count",
     "batch_shapes": {key: shape of one batch}}
  """
  from babycry_jax import input_pipeline as ip
  from configs import default
  loader = default.get_config().loader
  split = ip.Split(dataset_dir, "train", audio_frames, video_frames)
  stream = iter(split.train_dataset(batch_size, seed=0, worker_count=worker_count,
                                    worker_buffer_size=loader.worker_buffer_size,
                                    read_threads=loader.read_threads))
  last = {}

  def next_batch():
    last["batch"] = next(stream)
    return last["batch"]

  try:
    timing = time_calls(next_batch, lambda batch: None, protocol)
  finally:
    stream.close()
  return {"examples_per_s": batch_size / timing["seconds_per_call"],
          "seconds_per_batch": timing["seconds_per_call"], "runs_s": timing["runs_s"],
          "records": len(split), "batch_size": batch_size,
          "worker_count": ip.resolve_worker_count(worker_count),
          "batch_shapes": {k: list(v.shape) for k, v in last["batch"].items()}}


def stage_breakdown(dataset_dir: str, num_records: int = 32, audio_frames: int = AUDIO_FRAMES,
                    video_frames: int = VIDEO_FRAMES) -> dict[str, float]:
  """Milliseconds per record of each stage of our loader, one thread, no overlap.

  Returns:
    {"read": shard bytes by index, "parse": protobuf -> numpy (our wire-format parser) and crop,
     "batch": stacking a batch, "normalize": the batch normalized (ExampleDecoder.normalize)}
  """
  import time

  import numpy as np

  from babycry_jax import input_pipeline as ip
  split = ip.Split(dataset_dir, "train", audio_frames, video_frames)
  decoder = split.decoder
  positions = range(min(num_records, len(split)))
  t0 = time.perf_counter()
  raw = [split.records[i] for i in positions]
  t1 = time.perf_counter()
  examples = [decoder.raw_inputs(decoder.parse(r)) for r in raw]
  t2 = time.perf_counter()
  batch = {k: np.stack([e[k] for e in examples]) for k in examples[0]}
  t3 = time.perf_counter()
  decoder.normalize(batch)
  t4 = time.perf_counter()
  n = len(raw)
  return {"read": (t1 - t0) * 1e3 / n, "parse": (t2 - t1) * 1e3 / n,
          "batch": (t3 - t2) * 1e3 / n, "normalize": (t4 - t3) * 1e3 / n}


def measure_tf_data(dataset_dir: str, protocol: Protocol, threads: Optional[int] = None,
                    **spec_overrides) -> dict[str, Any]:
  """Examples/s of the tf.data recipe, in the TensorFlow venv's own process."""
  from benchmarks import tf_env
  spec = tf_data_spec(dataset_dir, **spec_overrides)
  args = ["-m", "benchmarks.tf_data_reference", "--spec", json.dumps(spec),
          "--threads", str(threads or os.cpu_count())] + protocol.to_args()
  return tf_env.run_json(args)


def run(dataset_dir: Optional[str] = None, protocol: Protocol = Protocol(3, 20, 3),
        tf_data: bool = True, verbose: bool = True) -> dict[str, Any]:
  """Measures our loader with the default worker count and tf.data on one dataset dir.

  Returns:
    {"dataset_dir", "ours": measure_ours(...), "tf_data": measure_tf_data(...) or None,
     "ratio_vs_tf_data": ours / tf.data examples/s or None}
  """
  dataset_dir = dataset_dir or ensure_dataset()
  ours = measure_ours(dataset_dir, protocol)
  if verbose:
    print(f"[input] ours {ours['examples_per_s']:.0f} ex/s ({ours['records']} train records, "
          f"{ours['worker_count']} workers)", flush=True)
  baseline = measure_tf_data(dataset_dir, protocol) if tf_data else None
  ratio = ours["examples_per_s"] / baseline["examples_per_s"] if baseline else None
  if verbose and baseline:
    print(f"[input] tf.data {baseline['examples_per_s']:.0f} ex/s -> {ratio:.2f}x", flush=True)
  return {"dataset_dir": dataset_dir, "ours": ours, "tf_data": baseline, "ratio_vs_tf_data": ratio}
