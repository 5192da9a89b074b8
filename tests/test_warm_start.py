"""Warm start: a fusion model's audio branch from the shipped cnn_pool, or from a run."""
import logging

import jax
import ml_collections
import numpy as np
import pytest

import synthetic_dataset
import tiny_config
from babycry_jax import shipped_model, train_state, trainer, warm_start
from babycry_jax.data import schema
from configs import fusion_real_audio


def _state(config, spec):
  return train_state.create_train_state(config, train_state.create_model(config), spec, 1)


def test_the_audio_branch_starts_from_the_shipped_model():
  config = fusion_real_audio.get_config()
  fresh = _state(config, schema.preset("paper"))
  started, done = warm_start.apply(fresh, config)
  assert "'audio' starts from cnn_pool (the shipped model real_world_cnn_pool, step" in done
  shipped = shipped_model.load("real_world_cnn_pool")[0].state
  for collection in ("params", "batch_stats"):
    source = {k: v for k, v in getattr(shipped, collection).items() if k != "head"}
    got = getattr(started, collection)["audio"]
    assert jax.tree.structure(got) == jax.tree.structure(source)
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(source)):
      np.testing.assert_array_equal(a, b)
    # Everything else keeps its fresh initialisation.
    for name, subtree in getattr(fresh, collection).items():
      if name != "audio":
        for a, b in zip(jax.tree.leaves(getattr(started, collection)[name]), jax.tree.leaves(subtree)):
          np.testing.assert_array_equal(a, b)


def test_layers_that_do_not_fit_are_named():
  config = fusion_real_audio.get_config()
  config.model_kwargs.audio_conv_features = (16, 32, 48)
  # The attention reads 4 bands x the last conv's channels.
  with pytest.raises(ValueError, match=r"shape \(256, 1\) in the source, \(192, 1\) in the model"):
    warm_start.apply(_state(config, schema.preset("paper")), config)
  config = fusion_real_audio.get_config()
  config.warm_start.into = "video"
  with pytest.raises(ValueError, match="layers differ"):
    warm_start.apply(_state(config, schema.preset("paper")), config)
  config.warm_start.into = "nowhere"
  with pytest.raises(ValueError, match="no such sub-tree"):
    warm_start.apply(_state(config, schema.preset("paper")), config)


def _tiny(dataset, model, **kwargs):
  c = tiny_config.get_config()
  c.dataset_dir = dataset
  c.model = model
  c.model_kwargs = ml_collections.ConfigDict(dict(
      audio_input_pool=(1, 1), audio_conv_features=(4, 8), video_conv_features=(4,),
      video_input_pool=(1, 1, 1), video_dense=8, dense_features=(8,), batch_norm=True, **kwargs)
      if model == "fusion_pool_3dcnn" else dict(input_pool=(1, 1), conv_features=(4, 8),
                                                dense_features=(8,), batch_norm=True))
  c.num_epochs = 1
  return c


def test_training_starts_from_another_run_and_only_once(tmp_path, caplog):
  log = logging.getLogger("babycry_jax")  # it does not propagate to the root logger
  log.addHandler(caplog.handler)
  dataset = synthetic_dataset.write(str(tmp_path / "ds"))
  trainer.train_and_evaluate(_tiny(dataset, "cnn_pool"), str(tmp_path / "audio"))
  config = _tiny(dataset, "fusion_pool_3dcnn")
  config.warm_start = ml_collections.ConfigDict(dict(source=str(tmp_path / "audio"), into="audio"))
  with caplog.at_level(logging.INFO):
    trainer.train_and_evaluate(config, str(tmp_path / "fusion"))
  assert "warm start: 'audio' starts from cnn_pool" in caplog.text
  caplog.clear()
  config.num_epochs = 2  # resuming: the checkpoint wins, nothing is copied again
  with caplog.at_level(logging.INFO):
    trainer.train_and_evaluate(config, str(tmp_path / "fusion"))
  assert "resuming from checkpoint" in caplog.text and "warm start" not in caplog.text
  log.removeHandler(caplog.handler)
