"""Attention-bottleneck fusion (beyond the study): audio and video transformers that
exchange information only through 4 shared tokens; AdamW with cosine decay.

Width 64, 3 layers, fusion from layer 1, 4 heads: small enough to train on a
CPU in minutes; model_kwargs may grow width, num_layers or num_bottleneck.
Modality dropout teaches it to cope with a missing track.
"""
import ml_collections

from configs import default


def get_config() -> ml_collections.ConfigDict:
  c = default.get_config()
  c.model = "fusion_bottleneck"
  c.model_kwargs = ml_collections.ConfigDict()
  c.optimizer = "adamw"
  c.learning_rate = 1e-3
  c.weight_decay = 1e-4
  c.lr_schedule = "cosine"
  c.warmup_epochs = 1.0
  c.grad_clip_norm = 1.0
  c.modality_dropout = 0.1
  c.batch_size = 32
  c.num_epochs = 20
  return c
