"""The LSTM on the real-audio dataset: Donate-a-cry cries against speech, music and household sounds.

Build the dataset first (it needs ../shared/data/real_audio):
  python -m preprocess.real_audio_recipe --shared ../shared/data --output data/real_audio
then train:
  python -m babycry_jax.train --config configs/real_audio.py --workdir runs/real_audio

The dataset has no video, so the model reads the log-mel only. The LSTM is the
audio model that held up best on this dataset's unseen test sources (the
reproduction report at 5 epochs: LSTM test F1 0.956, CNN6 0.839, CNN6 with
SpecAugment 0.683; the CNNs raise false alarms on kinds of sound absent from
training). A dataset made
elsewhere can be named after a colon: `--config configs/real_audio.py:/path/to/ds`.
"""
from typing import Optional

import ml_collections

from configs import lstm


def get_config(dataset_dir: Optional[str] = None) -> ml_collections.ConfigDict:
  c = lstm.get_config()
  c.dataset_dir = dataset_dir or "data/real_audio"
  c.dataset_command = ("python -m preprocess.real_audio_recipe --shared ../shared/data "
                       f"--output {c.dataset_dir}")
  return c
