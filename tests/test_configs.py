"""Every config in configs/ trains a few steps as written: its model at its size, optimizer,
schedule, loss and augmentation, on records of the study's feature shapes.

Only the data (a small synthetic dataset), the batch (one example per device)
and the length (two steps) are overridden.
"""
import importlib
import json
import math
import pathlib

import jax
import pytest

import synthetic_dataset
from babycry_jax import checkpointing, runs, trainer
from babycry_jax.data import schema

CONFIGS = sorted(p.stem for p in (pathlib.Path(__file__).parent.parent / "configs").glob("*.py")
                 if p.stem != "__init__")


@pytest.fixture(scope="module")
def paper_dataset(tmp_path_factory):
  """Records shaped like the embedded default's (log-mel 400x128, 18 gray frames of 64x64)."""
  return synthetic_dataset.write(str(tmp_path_factory.mktemp("paper") / "d"),
                                 sizes={"train": 16, "validation": 8, "test": 8},
                                 spec=schema.preset("paper"))


def _config(name, dataset_dir):
  module = importlib.import_module(f"configs.{name}")
  if name == "real_audio":  # checks its dataset exists when the config is built
    return module.get_config(dataset_dir)
  config = module.get_config()
  config.dataset_dir = dataset_dir
  return config


@pytest.mark.parametrize("name", CONFIGS)
def test_config_trains_a_few_steps(name, paper_dataset, tmp_path):
  config = _config(name, paper_dataset)
  expected = json.loads(json.dumps(config.to_dict()))  # the saved config is JSON: tuples read as lists
  with config.unlocked():
    config.batch_size = jax.device_count()
    config.eval_batch_size = jax.device_count()
    config.num_epochs = 1
    config.log_every_steps = 1
  steps = 16 // config.batch_size
  val = trainer.train_and_evaluate(config, str(tmp_path))

  assert 0.0 <= val["f1"] <= 1.0 and math.isfinite(val["loss"])
  with open(tmp_path / "metrics.jsonl") as f:
    records = [json.loads(line) for line in f]
  losses = [r["loss"] for r in records if r["kind"] == "train"]
  assert len(losses) == steps and all(math.isfinite(l) for l in losses)
  saved = json.loads((tmp_path / runs.CONFIG_FILE).read_text())
  for key in ("model", "model_kwargs", "optimizer", "learning_rate", "loss", "augment",
              "modality_dropout", "half_precision"):
    assert saved[key] == expected[key], key
  ckpt = checkpointing.Checkpointer(str(tmp_path), read_only=True)
  assert ckpt.latest_step() == steps
  ckpt.close()
