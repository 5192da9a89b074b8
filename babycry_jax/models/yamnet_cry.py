"""Crying detection that starts from YAMNet: `yamnet_cry`.

A window's YAMNet log-mel (batch["yamnet_log_mel"], [B, 398, 64] for 4 s) is cut
into YAMNet's patches (0.96 s every 0.48 s: 7 for 4 s); each patch gets YAMNet's
1024-d embedding and its 521 class logits, and a head turns the patches into the
window's crying logit:
  zero_shot  YAMNet as it comes: its "Baby cry, infant cry" score, the mean over
             the patches. Nothing is trained.
  residual   per patch, YAMNet's own cry logit plus a correction learned from the
             embedding (a dense layer that starts at zero, so training starts from
             the zero-shot detector), averaged over the patches.
The patches' outputs and the head are separate methods (`patch_outputs`,
`window_logits`), so detection computes each patch of a long file once and
scores every window that overlaps it from there.

YAMNet's weights come from babycry_jax/pretrained/yamnet through config.warm_start
(source "yamnet", into "yamnet"). `frozen_layers` of its 14 conv layers, and its
class layer unless `train_classifier`, are never trained: `frozen_params` tells the
optimizer, and no gradient is computed below the last frozen layer.
"""
from __future__ import annotations

from typing import Any, ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp

from babycry_jax import models
from babycry_jax.data import yamnet_features
from babycry_jax.models.batch_inputs import Batch, read_input
from babycry_jax.models.yamnet import CLASS_BABY_CRY, LAYERS, YamNet, frozen_mask

HEADS = ("zero_shot", "residual")


def frame_patches(log_mel: jax.Array) -> jax.Array:
  """[B, T, 64] -> [B, P, 96, 64]: YAMNet's patches, every 48 frames from frame 0."""
  count = yamnet_features.num_patches(log_mel.shape[1])
  if count == 0:
    raise ValueError(f"a YAMNet patch needs {yamnet_features.PATCH_FRAMES} log-mel frames, "
                     f"the input has {log_mel.shape[1]}")
  hop, size = yamnet_features.PATCH_HOP_FRAMES, yamnet_features.PATCH_FRAMES
  return jnp.stack([log_mel[:, p * hop:p * hop + size] for p in range(count)], axis=1)


def logits_of_probability(probability: jax.Array) -> jax.Array:
  """[B] probabilities -> [B, 2] logits whose softmax gives them back (class 1 = crying)."""
  # Clipped only where a log would be infinite: low zero-shot scores keep their order.
  p = jnp.clip(probability.astype(jnp.float32), jnp.finfo(jnp.float32).tiny, 1.0 - 2.0 ** -24)
  return jnp.stack([jnp.log1p(-p), jnp.log(p)], axis=-1)


@models.register("yamnet_cry")
class YamNetCry(nn.Module):
  """YAMNet on a window's patches, then a crying head (HEADS).

  Attributes:
    head: "zero_shot" or "residual".
    frozen_layers: YAMNet's conv layers kept as converted, counted from the input
      (14: all of them; 11: the last three separable blocks are fine-tuned).
    train_classifier: fine-tune YAMNet's 521-class layer too (the residual's base).
    dropout_rate: dropout on the embedding before the residual's correction.
    dtype: computation dtype; parameters stay float32.
  """
  modalities: ClassVar[tuple[str, ...]] = ("audio",)
  head: str = "residual"
  frozen_layers: int = len(LAYERS)
  train_classifier: bool = False
  dropout_rate: float = 0.0
  dtype: Any = jnp.float32

  def setup(self):
    if self.head not in HEADS:
      raise ValueError(f"yamnet_cry: head must be one of {HEADS}, got {self.head!r}")
    self.yamnet = YamNet(self.frozen_layers, self.dtype)
    if self.head == "residual":
      self.correction = nn.Dense(1, kernel_init=nn.initializers.zeros, dtype=self.dtype)
      self.dropout = nn.Dropout(self.dropout_rate)

  def patch_outputs(self, patches: jax.Array) -> tuple[jax.Array, jax.Array]:
    """[N, 96, 64] patches -> (embeddings [N, 1024], class logits [N, 521])."""
    embeddings = self.yamnet.embed(patches)
    return embeddings, self.yamnet.class_logits(embeddings)

  def window_logits(self, embeddings: jax.Array, class_logits: jax.Array,
                    train: bool = False) -> jax.Array:
    """A window's patches ([B, P, 1024], [B, P, 521]) -> float32 logits [B, 2]."""
    cry_logit = class_logits[..., CLASS_BABY_CRY]
    if self.head == "zero_shot":
      return logits_of_probability(jax.nn.sigmoid(cry_logit).mean(axis=1))
    features = self.dropout(embeddings, deterministic=not train)
    patch_logit = cry_logit + self.correction(features)[..., 0].astype(jnp.float32)
    window_logit = patch_logit.mean(axis=1)
    return jnp.stack([jnp.zeros_like(window_logit), window_logit], axis=-1)

  def __call__(self, batch: Batch, train: bool = False) -> jax.Array:
    """batch["yamnet_log_mel"] [B, T, 64] -> float32 logits [B, 2]."""
    patches = frame_patches(read_input(batch, "yamnet_log_mel", "yamnet_cry"))
    b, p = patches.shape[:2]
    embeddings, class_logits = self.patch_outputs(patches.reshape((b * p,) + patches.shape[2:]))
    return self.window_logits(embeddings.reshape(b, p, -1), class_logits.reshape(b, p, -1), train)

  def frozen_params(self, params: dict) -> dict:
    """A tree like `params`, True where a parameter is never trained."""
    return frozen_mask(params, self.frozen_layers, self.train_classifier)
