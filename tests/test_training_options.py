"""Each optimisation and regularisation option of the config trains on 8 devices."""
import json
import os

import numpy as np
import pytest

import synthetic_dataset
import tiny_config
from babycry_jax import trainer


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
  return synthetic_dataset.write(str(tmp_path_factory.mktemp("ds") / "d"))


OPTIONS = {
    "bf16_clip_accumulate": dict(half_precision=True, grad_clip_norm=1.0, grad_accum_steps=2),
    "rmsprop_plateau_decay": dict(optimizer="rmsprop", lr_schedule="plateau", weight_decay=1e-4),
    "sgd_cosine_warmup": dict(optimizer="sgd", lr_schedule="cosine", warmup_epochs=1.0),
    "augment_all": dict(modality_dropout=0.3, augment=dict(
        spec_augment=True, time_shift=True, flip=True, mixup_alpha=0.4, negative_mix=0.5,
        negative_mix_snr_db=(-3.0, 9.0), gain_db=6.0, tilt_db=6.0)),
}


@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_option_trains(name, dataset, tmp_path):
  config = tiny_config.get_config()
  config.dataset_dir = dataset
  config.num_epochs = 2
  config.update_from_flattened_dict(
      {k: v for k, v in _flatten(OPTIONS[name]).items()})
  val = trainer.train_and_evaluate(config, str(tmp_path))
  with open(os.path.join(tmp_path, "metrics.jsonl")) as f:
    rows = [json.loads(l) for l in f if '"train"' in l]
  assert len(rows) == 8 and all(np.isfinite(r["loss"]) for r in rows)
  assert 0.0 <= val["f1"] <= 1.0 and np.isfinite(val["loss"])


def _flatten(d, prefix=""):
  out = {}
  for k, v in d.items():
    if isinstance(v, dict):
      out.update(_flatten(v, f"{prefix}{k}."))
    else:
      out[f"{prefix}{k}"] = v
  return out
