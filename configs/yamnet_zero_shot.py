"""YAMNet as it comes: its own "Baby cry, infant cry" score averaged over a window's patches,
no training (`yamnet_cry`, head "zero_shot"), on the real-world dataset: the peer every
YAMNet-based detector is measured against.

  python -m babycry_jax.train --config configs/yamnet_zero_shot.py --workdir runs/yamnet_zero_shot
validates and saves the converted model as it is (num_epochs 0), so `evaluate`, `detect`,
`export_model` and the leave-one-source-out benchmark treat it like any trained run.
"""
from typing import Optional

import ml_collections

from configs import yamnet_cry


def get_config(dataset_dir: Optional[str] = None) -> ml_collections.ConfigDict:
  c = yamnet_cry.get_config(dataset_dir)
  c.model_kwargs = ml_collections.ConfigDict(dict(head="zero_shot", frozen_layers=14))
  c.learning_rate_scales = ml_collections.ConfigDict()
  c.num_epochs = 0
  return c
