"""`python -m preprocess.inspect_dataset <dataset dir> [--png sheet.png]`: what a dataset holds.

Prints counts per split and label, feature shapes, the train statistics and
a summary of the errors report; with --png, draws a sheet of a few log-mels
and frame strips, crying next to not crying. Records are parsed TF-free.
"""
from __future__ import annotations

import collections
import json
import os
import sys
from typing import Any, Iterator, Optional

import numpy as np
from absl import app, flags

from babycry_jax import console
from babycry_jax.data import schema, tfrecord_codec


def iter_examples(dataset_dir: str, split: str, limit: Optional[int] = None) -> Iterator[dict[str, Any]]:
  """Parsed records of one split in file order, as numpy (shapes as in schema.features_dict)."""
  from tensorflow_datasets.core import example_parser

  metadata = schema.read_metadata(dataset_dir)
  spec = schema.FeatureSpec.from_json(metadata["feature_spec"])
  features = schema.features_dict(spec)
  parser = example_parser.ExampleParserNp(features.get_serialized_info())
  count = 0
  for shard in metadata["splits"][split]["shards"]:
    for data in tfrecord_codec.read_records(os.path.join(dataset_dir, shard)):
      if limit is not None and count >= limit:
        return
      example = schema.decode_bytes_features(parser.parse_example(data), spec)
      for key in ("clip_id", "source_id"):
        if isinstance(example[key], bytes):
          example[key] = example[key].decode()
      yield example
      count += 1


def _split_order(split: str) -> tuple[int, str]:
  order = ("train", "validation", "test")
  return (order.index(split) if split in order else len(order), split)


def summarize(dataset_dir: str) -> dict[str, Any]:
  """Counts, shapes, stats and failures of a dataset dir as one dict."""
  metadata = schema.read_metadata(dataset_dir)
  spec = schema.FeatureSpec.from_json(metadata["feature_spec"])
  features = schema.features_dict(spec)
  shapes = {name: (list(f.shape), np.dtype(f.np_dtype).name) for name, f in features.items()
            if hasattr(f, "shape")}
  errors = []
  errors_path = os.path.join(dataset_dir, schema.ERRORS_FILE)
  if os.path.exists(errors_path):
    with open(errors_path) as f:
      errors = [json.loads(line) for line in f if line.strip()]
  return {
      "splits": {s: {"num_examples": m["num_examples"], "labels": m["labels"], "num_shards": len(m["shards"])}
                 for s, m in sorted(metadata["splits"].items(), key=lambda kv: _split_order(kv[0]))},
      "shapes": shapes,
      "stats": metadata["stats"],
      "errors_by_reason": dict(collections.Counter(e["reason"] for e in errors)),
      "errors": errors,
      "feature_spec": metadata["feature_spec"],
  }


def format_report(summary: dict[str, Any]) -> str:
  lines = ["split        records   crying  not_crying  shards"]
  for split, info in summary["splits"].items():
    lines.append(f"{split:<11} {info['num_examples']:>8} {info['labels']['crying']:>8} "
                 f"{info['labels']['not_crying']:>11} {info['num_shards']:>7}")
  lines.append("features:")
  for name, (shape, dtype) in summary["shapes"].items():
    lines.append(f"  {name:<18} {dtype:<8} {shape}")
  stats = summary["stats"]
  lines.append("train stats (present tracks only):")
  for name in ("audio/log_mel", "video/frames"):
    lines.append(f"  {name:<18} mean {stats[name]['mean']:.3f}  std {stats[name]['std']:.3f}")
  mfcc = stats["audio/mfcc_stats"]
  lines.append(f"  {'audio/mfcc_stats':<18} mean[:3] {np.round(mfcc['mean'][:3], 3).tolist()}  "
               f"std[:3] {np.round(mfcc['std'][:3], 3).tolist()}")
  lines.append(f"errors: {len(summary['errors'])} {summary['errors_by_reason'] or ''}")
  for error in summary["errors"][:10]:
    lines.append(f"  {error['reason']:<16} {error['path']}")
  if len(summary["errors"]) > 10:
    lines.append(f"  ... and {len(summary['errors']) - 10} more")
  return "\n".join(lines)


def _pick_examples(dataset_dir: str, per_label: int) -> dict[int, list[dict[str, Any]]]:
  metadata = schema.read_metadata(dataset_dir)
  picked: dict[int, list[dict[str, Any]]] = {i: [] for i in range(len(schema.LABELS))}
  for split in metadata["splits"]:
    for example in iter_examples(dataset_dir, split):
      label = int(example["label"])
      if len(picked[label]) < per_label:
        picked[label].append(example)
      if all(len(v) >= per_label for v in picked.values()):
        return picked
  return picked


def write_sheet(dataset_dir: str, png_path: str, per_label: int = 3, frames_shown: int = 6) -> int:
  """Draws log-mels and frame strips, crying (top rows) and not crying; returns examples drawn."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  picked = _pick_examples(dataset_dir, per_label)
  rows = [(label, ex) for label in (schema.CRYING, 1 - schema.CRYING) for ex in picked[label]]
  if not rows:
    raise ValueError(f"{dataset_dir} has no records to draw")
  fig, axes = plt.subplots(len(rows), 2, figsize=(12, 2.2 * len(rows)), squeeze=False,
                           gridspec_kw={"width_ratios": [1, 2]})
  for (label, ex), (mel_ax, frames_ax) in zip(rows, axes):
    title = f"{schema.LABELS[label]}: {ex['clip_id']}"
    if ex["has_audio"]:
      mel_ax.imshow(np.asarray(ex["audio/log_mel"], np.float32).T, origin="lower", aspect="auto", cmap="magma")
    else:
      mel_ax.text(0.5, 0.5, "no audio track", ha="center", va="center")
    mel_ax.set_title(title, fontsize=8)
    mel_ax.set_xlabel("frame (10 ms)", fontsize=7)
    mel_ax.set_ylabel("mel band", fontsize=7)
    frames = np.asarray(ex["video/frames"])
    if ex["has_video"]:
      idx = np.linspace(0, frames.shape[0] - 1, min(frames_shown, frames.shape[0])).astype(int)
      strip = np.concatenate([frames[i] for i in idx], axis=1)
      frames_ax.imshow(strip[..., 0] if strip.shape[-1] == 1 else strip, cmap="gray", vmin=0, vmax=255)
    else:
      frames_ax.text(0.5, 0.5, "no video track", ha="center", va="center")
    frames_ax.set_axis_off()
  fig.tight_layout()
  tmp_path = png_path + ".tmp.png"
  fig.savefig(tmp_path, dpi=80)
  plt.close(fig)
  os.replace(tmp_path, png_path)
  return len(rows)


FLAGS = flags.FLAGS
flags.DEFINE_string("png", None, "Write a sheet of log-mels and frame strips here.")
flags.DEFINE_integer("per_label", 3, "Examples per label on the sheet.", lower_bound=1)


def main(argv: list[str]) -> int:
  if len(argv) != 2:
    print("error: give one dataset dir: python -m preprocess.inspect_dataset DATASET_DIR "
          "[--png sheet.png] [--per_label N]", file=sys.stderr)
    return 1
  dataset_dir = argv[1]
  try:
    print(format_report(summarize(dataset_dir)))
    if FLAGS.png:
      drawn = write_sheet(dataset_dir, FLAGS.png, FLAGS.per_label)
      print(f"sheet of {drawn} examples written to {FLAGS.png}")
  except (FileNotFoundError, ValueError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 1
  return 0


if __name__ == "__main__":
  app.run(main, flags_parser=console.parse_flags)
