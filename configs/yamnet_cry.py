"""YAMNet fine-tuned into a crying detector on the real-world dataset (`yamnet_cry`, head
"residual"): the detector the package ships.

Each 0.96 s patch's crying logit is YAMNet's own "Baby cry, infant cry" logit plus a
correction learned from its 1024-d embedding (zero at the start, so training starts
from YAMNet as it comes), averaged over the window's patches. YAMNet's last three
separable blocks are fine-tuned at 0.3% of the head's learning rate; the rest of it stays
as converted. Leaving sources out (the README's headline) chose this over the head alone and over
YAMNet as it comes. Build the dataset first (it needs ../shared/data):
  python -m preprocess.real_world_recipe --shared ../shared/data --output data/real_world
then train:
  python -m babycry_jax.train --config configs/yamnet_cry.py --workdir runs/yamnet_cry
"""
from typing import Optional

import ml_collections

from configs import default, real_world


def get_config(dataset_dir: Optional[str] = None) -> ml_collections.ConfigDict:
  c = default.model_config("yamnet_cry", optimizer="adam", learning_rate=1e-2, batch_size=32,
                           num_epochs=5)
  data = real_world.get_config(dataset_dir)
  c.dataset_dir, c.dataset_command = data.dataset_dir, data.dataset_command
  c.model_kwargs = ml_collections.ConfigDict(dict(head="residual", frozen_layers=11))
  c.warm_start = ml_collections.ConfigDict(dict(source="yamnet", into="yamnet"))
  c.learning_rate_scales = ml_collections.ConfigDict(dict(yamnet=0.003))
  c.lr_schedule, c.warmup_epochs = "constant", 0.0
  c.weight_decay = 0.02
  c.augment.time_shift = False
  return c
