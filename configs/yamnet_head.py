"""configs/yamnet_cry.py with all of YAMNet frozen: only the residual head learns.

  python -m babycry_jax.train --config configs/yamnet_head.py --workdir runs/yamnet_head
"""
from typing import Optional

import ml_collections

from configs import yamnet_cry


def get_config(dataset_dir: Optional[str] = None) -> ml_collections.ConfigDict:
  c = yamnet_cry.get_config(dataset_dir)
  c.model_kwargs.frozen_layers = 14
  c.learning_rate_scales = ml_collections.ConfigDict()
  return c
