r"""Evaluates a checkpoint of a run on a split of its dataset.

  python -m babycry_jax.evaluate --workdir runs/default [--split test] [--checkpoint best]

Rebuilds the model from the config saved in the workdir, restores the chosen
checkpoint and writes W/eval/<split>/metrics.json and predictions.csv.
"""
from __future__ import annotations

import csv
import dataclasses
import json
import os
import sys

import jax
import ml_collections
import numpy as np
from absl import app, flags

from babycry_jax import checkpointing, console, schema
from babycry_jax import input_pipeline as ip
from babycry_jax import train
from babycry_jax.parallel import Parallel

log = console.logger()


@dataclasses.dataclass
class Run:
  """A trained run loaded from its workdir: config, model and one checkpoint's state."""
  config: ml_collections.ConfigDict
  model: object
  state: train.TrainState
  step: int
  spec: schema.FeatureSpec
  metadata: dict


def load_run(workdir: str, checkpoint: str = "best") -> Run:
  config_path = os.path.join(workdir, train.CONFIG_FILE)
  if not os.path.exists(config_path):
    raise FileNotFoundError(f"{workdir} has no {train.CONFIG_FILE}: is it a training workdir?")
  with open(config_path) as f:
    config = ml_collections.ConfigDict(json.load(f))
  metadata = schema.read_metadata(config.dataset_dir)
  spec = schema.FeatureSpec.from_json(metadata["feature_spec"])
  model = train.create_model(config)
  template = train.create_train_state(config, model, spec, steps_per_epoch=1)
  ckpt = checkpointing.Checkpointer(workdir, read_only=True)
  step = ckpt.resolve(checkpoint)
  state, _ = ckpt.restore(step, template)
  ckpt.close()
  return Run(config, model, state, step, spec, metadata)


def predict_split(run: Run, split: str) -> tuple[list[dict], dict]:
  """Per-clip rows (clip_id, source_id, label, score) and metrics over the split."""
  reader = ip.SplitReader(run.config.dataset_dir, split, run.config.audio_frames,
                          run.config.video_frames)
  parallel = Parallel("pmap")
  batch_size = jax.local_device_count() * max(1, 32 // jax.local_device_count())
  p_eval = parallel.wrap_eval(train.eval_step_fn(run.config))
  result, labels, scores = train.evaluate_split(
      parallel, p_eval, parallel.replicate(run.state), reader, batch_size)
  ids = [reader.decoder.parse(reader.source[i]) for i in range(len(reader))]
  rows = [{"clip_id": r["clip_id"].decode(), "source_id": r["source_id"].decode(),
           "label": int(label), "score": float(score)}
          for r, label, score in zip(ids, labels, scores)]
  return rows, result


def evaluate(workdir: str, split: str = "test", checkpoint: str = "best") -> dict:
  run = load_run(workdir, checkpoint)
  rows, result = predict_split(run, split)
  result = {"split": split, "checkpoint_step": run.step, "model": run.config.model, **result}
  out_dir = os.path.join(workdir, "eval", split)
  os.makedirs(out_dir, exist_ok=True)
  with open(os.path.join(out_dir, "predictions.csv"), "w", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=["clip_id", "source_id", "label", "score"])
    writer.writeheader()
    writer.writerows(rows)
  with open(os.path.join(out_dir, "metrics.json"), "w") as f:
    json.dump(result, f, indent=2)
  log.info("%s on %s (step %d, %d clips): f1 %.4f accuracy %.4f precision %.4f recall %.4f "
           "roc_auc %.4f -> %s", run.config.model, split, run.step, result["num_examples"],
           result["f1"], result["accuracy"], result["precision"], result["recall"],
           result["roc_auc"], out_dir)
  return result


FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Training workdir to evaluate.")
flags.DEFINE_string("split", "test", "Dataset split: train, validation or test.")
flags.DEFINE_string("checkpoint", "best", "best, latest or a step number.")


def main(argv):
  del argv
  console.quiet_libraries()
  try:
    evaluate(FLAGS.workdir, FLAGS.split, FLAGS.checkpoint)
  except (FileNotFoundError, ValueError) as e:
    log.error("%s", e)
    sys.exit(1)


if __name__ == "__main__":
  flags.mark_flags_as_required(["workdir"])
  app.run(main)
