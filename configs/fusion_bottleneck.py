"""Attention-bottleneck fusion (beyond the study): audio and video transformers that
exchange information only through 4 shared tokens; AdamW with cosine decay.

Width 64, 3 layers, fusion from layer 1, 4 heads: small enough to train on a
CPU in minutes; model_kwargs may grow width, num_layers or num_bottleneck.
Modality dropout teaches it to cope with a missing track.
"""
import ml_collections

from configs import default


def get_config() -> ml_collections.ConfigDict:
  return default.model_config(
      "fusion_bottleneck", optimizer="adamw", learning_rate=1e-3, batch_size=32,
      weight_decay=1e-4, lr_schedule="cosine", warmup_epochs=1.0, grad_clip_norm=1.0,
      modality_dropout=0.1)
