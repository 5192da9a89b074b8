"""Audio-video fusion whose ear is YAMNet: `fusion_yamnet_3dcnn`.

The audio branch is YAMNet over the window's patches (models.yamnet_cry's framing):
its embeddings and class scores, averaged over the patches, through a dense layer.
It starts from the converted YAMNet (config.warm_start source "yamnet", into
"yamnet") and keeps its first `frozen_layers` conv layers and its class layer as
converted. The video branch, the stand-ins for a missing track and the head are
fusion_pool_3dcnn's.
"""
from __future__ import annotations

from typing import ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp

from babycry_jax import models
from babycry_jax.models.batch_inputs import Batch, presence, read_input
from babycry_jax.models.encoders import blank_missing, fused_logits
from babycry_jax.models.pooled_fusion import SmallVideoFusion, small_video_encoder
from babycry_jax.models.yamnet import LAYERS, YamNet, frozen_mask
from babycry_jax.models.yamnet_cry import frame_patches


@models.register("fusion_yamnet_3dcnn")
class FusionYamNet3dCnn(SmallVideoFusion):
  """YAMNet's embedding and scores of the audio, a small 3D CNN on the frames, each filled in
  when its track is missing, concatenated, then a dense head.

  Attributes:
    frozen_layers: YAMNet's conv layers kept as converted (14: all).
    audio_dense: width of the dense layer on YAMNet's pooled outputs.
    video_conv_features, video_input_pool, video_dense: the video branch (fusion_pool_3dcnn's).
    dense_features, dropout_rates: the head after the concatenation.
    (batch_norm, bn_axis_name, dtype: see ConvNet.)
  """
  modalities: ClassVar[tuple[str, ...]] = ("audio", "video")
  frozen_layers: int = len(LAYERS)
  audio_dense: int = 64

  @nn.compact
  def __call__(self, batch: Batch, train: bool = False) -> jax.Array:
    """yamnet_log_mel [B, T, 64], frames [B, F, H, W, C], has_* [B] -> float32 logits [B, 2]."""
    owner = "fusion_yamnet_3dcnn"
    has_audio, has_video = presence(batch, "audio", owner), presence(batch, "video", owner)
    log_mel = blank_missing(jnp.asarray(read_input(batch, "yamnet_log_mel", owner)), has_audio)
    frames = blank_missing(jnp.asarray(read_input(batch, "frames", owner)), has_video)
    patches = frame_patches(log_mel)
    b, p = patches.shape[:2]
    embeddings, class_logits = YamNet(self.frozen_layers, self.dtype, name="yamnet")(
        patches.reshape((b * p,) + patches.shape[2:]))
    pooled = jnp.concatenate([embeddings.reshape(b, p, -1).mean(axis=1),
                              jax.nn.sigmoid(class_logits).reshape(b, p, -1).mean(axis=1)], axis=-1)
    audio = nn.relu(nn.Dense(self.audio_dense, dtype=self.dtype, name="audio_dense")(pooled))
    video = small_video_encoder(frames, self, train)
    return fused_logits(audio, video, has_audio, has_video, self.dense_features,
                        self.dropout_rates, self.dtype, train)

  def frozen_params(self, params: dict) -> dict:
    """A tree like `params`, True for YAMNet's layers that stay as converted."""
    return frozen_mask(params, self.frozen_layers, train_classifier=False)
