"""The LSTM on the real-world dataset: cries and cry-in-background mixtures against hard
negatives of eight source groups (laughing, coughing, children's speech, animals, sirens, ...).

Build the dataset first (it needs ../shared/data/real_audio and real_world):
  python -m preprocess.real_world_recipe --shared ../shared/data --output data/real_world
then train:
  python -m babycry_jax.train --config configs/real_world_lstm.py --workdir runs/rw_lstm

Audio only (the corpora have no video); the comparison with configs/real_world.py's
cnn_pool is in docs/real_world.md. A dataset made elsewhere can be named after a colon.
"""
from typing import Optional

import ml_collections

from configs import lstm


def get_config(dataset_dir: Optional[str] = None) -> ml_collections.ConfigDict:
  c = lstm.get_config()
  c.dataset_dir = dataset_dir or "data/real_world"
  c.dataset_command = ("python -m preprocess.real_world_recipe --shared ../shared/data "
                       f"--output {c.dataset_dir}")
  c.num_epochs = 12   # a few minutes on a 2-core CPU
  return c
