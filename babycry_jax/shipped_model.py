"""A trained model shipped inside the package, usable with no workdir and no dataset.

A shipped model is a folder babycry_jax/pretrained/<name>/ holding
  config.json                the training config (as a run saves it)
  variables.msgpack          params and BatchNorm statistics (flax.serialization); for a
                             model started from the pretrained YAMNet (config.warm_start),
                             only those that differ from it: the rest is read from
                             babycry_jax/pretrained/yamnet
  model.json                 feature spec and train-split stats the decoder needs,
                             the decision threshold chosen on validation, the
                             validation metrics at it, the checkpoint step, data
                             sources and licences
  validation_predictions.csv every validation clip's label and score (clip_id, source_id)
  validation_sample.npz      a few validation clips' audio features and their scores,
                             so a test can rerun the model and compare
`load` turns it back into a runs.Run that detection uses like a restored checkpoint.
"""
from __future__ import annotations

import csv
import io
import json
import os
from typing import Any

import flax.serialization
import jax
import ml_collections
import numpy as np

from babycry_jax import metrics, yamnet_weights
from babycry_jax.data import schema, storage
from babycry_jax.runs import Run
from babycry_jax.train_state import abstract_train_state, create_model

PRETRAINED_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pretrained")
DEFAULT_NAME = "yamnet_cry"
CONFIG_FILE, VARIABLES_FILE, MODEL_FILE = "config.json", "variables.msgpack", "model.json"
PREDICTIONS_FILE, SAMPLE_FILE = "validation_predictions.csv", "validation_sample.npz"


def model_dir(name: str = DEFAULT_NAME) -> str:
  """The folder of a shipped model: its name in the package, or a folder written by export."""
  path = name if os.path.isfile(os.path.join(name, MODEL_FILE)) else os.path.join(PRETRAINED_DIR, name)
  if not os.path.isdir(path):
    shipped = sorted(os.listdir(PRETRAINED_DIR)) if os.path.isdir(PRETRAINED_DIR) else []
    raise FileNotFoundError(f"no shipped model {name!r} (shipped: {', '.join(shipped) or 'none'})")
  return path


def _variables(run: Run) -> dict:
  return {"params": run.state.params, "batch_stats": run.state.batch_stats or {}}


def _base_variables(config: ml_collections.ConfigDict) -> dict:
  """The variables a run started from and that need not be shipped: the pretrained YAMNet's."""
  if config.get("warm_start", {}).get("source") != yamnet_weights.WARM_START_SOURCE:
    return {}
  return {"params": {config.warm_start.into: yamnet_weights.load_params()}}


def _paths(tree: dict) -> dict:
  return {jax.tree_util.keystr(p): leaf for p, leaf in jax.tree_util.tree_leaves_with_path(tree)}


def _unflatten(template: Any, values: dict) -> Any:
  return jax.tree_util.tree_map_with_path(lambda p, _: values[jax.tree_util.keystr(p)], template)


def _changed(variables: dict, base: dict) -> dict:
  """`variables` without the leaves equal to the same leaf of `base`, as nested dicts."""
  base_paths = _paths(base)
  out: dict = {}
  for path, leaf in jax.tree_util.tree_leaves_with_path(variables):
    key = jax.tree_util.keystr(path)
    if key in base_paths and np.array_equal(np.asarray(leaf), np.asarray(base_paths[key])):
      continue
    node = out
    for part in path[:-1]:
      node = node.setdefault(part.key, {})
    node[path[-1].key] = np.asarray(leaf)
  return out


def export(run: Run, out_dir: str, validation, sample_size: int, info: dict[str, Any]) -> dict:
  """Writes a shipped model from a restored run and its validation predictions.

  Args:
    run: runs.load_run(workdir, "best").
    out_dir: the model folder to write.
    validation: evaluation.SplitPredictions of run on its validation split.
    sample_size: validation clips (half of each label) kept with their records.
    info: extra fields for model.json (data sources, licences, how it was trained).
  Returns:
    model.json's content.
  """
  threshold = metrics.best_f1_threshold(validation.labels, validation.scores)
  os.makedirs(out_dir, exist_ok=True)
  storage.write_text(os.path.join(out_dir, CONFIG_FILE), run.config.to_json_best_effort(indent=2))
  with open(os.path.join(out_dir, VARIABLES_FILE), "wb") as f:
    f.write(flax.serialization.msgpack_serialize(
        _changed(jax.device_get(_variables(run)), _base_variables(run.config))))
  buffer = io.StringIO()
  writer = csv.DictWriter(buffer, fieldnames=["clip_id", "source_id", "label", "score"])
  writer.writeheader()
  writer.writerows(validation.rows())
  storage.write_text(os.path.join(out_dir, PREDICTIONS_FILE), buffer.getvalue())
  from babycry_jax import input_pipeline
  split = input_pipeline.Split(run.config.dataset_dir, "validation", run.config.audio_frames,
                               run.config.video_frames)
  picked = np.concatenate([np.flatnonzero(validation.labels == k)[:sample_size // 2] for k in (0, 1)])
  records = [split.example(int(i)) for i in picked]
  np.savez_compressed(
      os.path.join(out_dir, SAMPLE_FILE),
      log_mel=np.stack([r[schema.LOG_MEL][:run.config.audio_frames] for r in records]).astype(np.float16),
      mfcc_stats=np.stack([r[schema.MFCC_STATS] for r in records]),
      yamnet_log_mel=np.stack([r[schema.YAMNET_LOG_MEL] for r in records]).astype(np.float16),
      scores=validation.scores[picked], labels=validation.labels[picked])
  model_info = dict(
      info, model=run.config.model, checkpoint_step=run.step, threshold=threshold,
      threshold_rule="F1-best on the validation split",
      validation_metrics=metrics.binary_metrics(validation.labels, validation.scores, threshold),
      feature_spec=run.metadata["feature_spec"], stats=run.metadata["stats"],
      record_format=run.metadata.get("record_format", schema.RECORD_FORMAT))
  storage.write_text(os.path.join(out_dir, MODEL_FILE), json.dumps(model_info, indent=1))
  return model_info


def read_info(name: str = DEFAULT_NAME) -> dict[str, Any]:
  """model.json of a shipped model."""
  return json.loads(storage.read_text(os.path.join(model_dir(name), MODEL_FILE)))


def load(name: str = DEFAULT_NAME) -> tuple[Run, dict[str, Any]]:
  """(a Run of the shipped model, its model.json); the Run's metadata has the decoder's stats."""
  path = model_dir(name)
  info = read_info(name)
  config = ml_collections.ConfigDict(json.loads(storage.read_text(os.path.join(path, CONFIG_FILE))))
  spec = schema.FeatureSpec.from_json(info["feature_spec"])
  model = create_model(config)
  state = abstract_train_state(config, model, spec)
  with open(os.path.join(path, VARIABLES_FILE), "rb") as f:
    stored = _paths(flax.serialization.msgpack_restore(f.read()))
  values = {**_paths(_base_variables(config)), **stored}
  template = {"params": state.params, "batch_stats": state.batch_stats or {}}
  missing = sorted(set(_paths(template)) - set(values))
  if missing:
    raise ValueError(f"shipped model {name!r} lacks {len(missing)} variables, e.g. {missing[0]}")
  variables = _unflatten(template, values)
  state = state.replace(params=variables["params"], batch_stats=variables["batch_stats"] or None,
                        opt_state=None)
  metadata = {"feature_spec": info["feature_spec"], "stats": info["stats"],
              "record_format": info["record_format"]}
  return Run(config, model, state, int(info["checkpoint_step"]), spec, metadata), info


def read_validation_predictions(name: str = DEFAULT_NAME) -> tuple[np.ndarray, np.ndarray]:
  """(labels [N], scores [N]) of the shipped validation predictions."""
  with open(os.path.join(model_dir(name), PREDICTIONS_FILE), newline="") as f:
    rows = list(csv.DictReader(f))
  return (np.array([int(r["label"]) for r in rows], np.int64),
          np.array([float(r["score"]) for r in rows], np.float64))


def read_validation_sample(name: str = DEFAULT_NAME) -> dict[str, np.ndarray]:
  """{log_mel [S, audio_frames, n_mels] float16, mfcc_stats [S, 78], yamnet_log_mel
  [S, yamnet_frames, 64] float16 (in models shipped since it was recorded), scores [S], labels [S]}."""
  with np.load(os.path.join(model_dir(name), SAMPLE_FILE)) as data:
    return {k: data[k] for k in data.files}
