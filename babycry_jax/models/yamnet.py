"""YAMNet in Flax: MobileNet v1 on one 96 x 64 log-mel patch, pretrained on AudioSet.

The network of Google's YAMNet (Apache-2.0) as its int8 TensorFlow Lite file
holds it: a 3x3 conv with stride 2, then 13 depthwise-separable blocks (3x3
depthwise, then 1x1 pointwise, each followed by its bias and ReLU6; BatchNorm
is folded into the weights), a global average over the 3 x 2 map to a 1024-d
embedding, and a dense layer to the 521 AudioSet classes (sigmoid scores). The
converted weights are in babycry_jax/pretrained/yamnet (babycry_jax.yamnet_weights).

The depthwise convolutions are nine shifted multiply-adds, not a grouped conv:
XLA's CPU grouped convolution took 172 ms where the shifted form took 7.8 ms
for the same [64, 24, 16, 256] layer (and 80 ms against 666 ms for its
gradient), with the same numbers to float rounding (tested).
"""
from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from babycry_jax.data import yamnet_features

# (stride, output channels) of the first conv and of each separable block.
LAYERS: tuple[tuple[int, int], ...] = (
    (2, 32), (1, 64), (2, 128), (1, 128), (2, 256), (1, 256), (2, 512),
    (1, 512), (1, 512), (1, 512), (1, 512), (1, 512), (2, 1024), (1, 1024))
EMBEDDING_DIM = LAYERS[-1][1]
NUM_CLASSES = 521
# Output indices of the classes the project reads (yamnet_class_map.csv).
CLASS_BABY_CRY = 20          # "Baby cry, infant cry"


def _same_padding(size: int, stride: int, kernel: int = 3) -> tuple[int, int]:
  """TensorFlow's "SAME" padding: the extra row (for stride 2) goes after."""
  out = -(-size // stride)
  total = max((out - 1) * stride + kernel - size, 0)
  return total // 2, total - total // 2


def depthwise_conv3x3(x: jax.Array, kernel: jax.Array, stride: int) -> jax.Array:
  """[N, H, W, C] * [3, 3, C] per channel, "SAME" padding: nine shifted multiply-adds."""
  _, height, width, _ = x.shape
  pad_h, pad_w = _same_padding(height, stride), _same_padding(width, stride)
  padded = jnp.pad(x, ((0, 0), pad_h, pad_w, (0, 0)))
  out_h, out_w = -(-height // stride), -(-width // stride)
  out = None
  for a in range(3):
    for b in range(3):
      tap = padded[:, a:a + stride * (out_h - 1) + 1:stride, b:b + stride * (out_w - 1) + 1:stride]
      out = tap * kernel[a, b] if out is None else out + tap * kernel[a, b]
  return out


class SeparableBlock(nn.Module):
  """3x3 depthwise (stride 1 or 2) + bias + ReLU6, then 1x1 pointwise + bias + ReLU6."""
  features: int
  stride: int
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    channels = x.shape[-1]
    kernel = self.param("depthwise_kernel", nn.initializers.normal(1.0 / 3.0), (3, 3, channels))
    bias = self.param("depthwise_bias", nn.initializers.zeros, (channels,))
    x = nn.relu6(depthwise_conv3x3(x, kernel.astype(self.dtype), self.stride) + bias.astype(self.dtype))
    return nn.relu6(nn.Dense(self.features, dtype=self.dtype, name="pointwise")(x))


class YamNet(nn.Module):
  """[N, 96, 64] log-mel patches -> (embeddings [N, 1024], class logits [N, 521]).

  Attributes:
    frozen_layers: the first this many of the 14 conv layers pass no gradient
      back (their output goes through stop_gradient): 14 trains only what comes
      after the embedding, 0 fine-tunes all of it.
    dtype: computation dtype; parameters stay float32.
  """
  frozen_layers: int = 0
  dtype: jnp.dtype = jnp.float32

  def setup(self):
    if not 0 <= self.frozen_layers <= len(LAYERS):
      raise ValueError(f"yamnet: frozen_layers must be from 0 to {len(LAYERS)}, "
                       f"got {self.frozen_layers}")
    stride, features = LAYERS[0]
    self.conv0 = nn.Conv(features, (3, 3), strides=(stride, stride), padding="SAME",
                         dtype=self.dtype)
    self.blocks = [SeparableBlock(f, s, self.dtype, name=f"block{i}")
                   for i, (s, f) in enumerate(LAYERS[1:], start=1)]
    self.classifier = nn.Dense(NUM_CLASSES, dtype=self.dtype)

  def embed(self, patches: jax.Array) -> jax.Array:
    """[N, 96, 64] -> [N, 1024] float32 embeddings (the mean of the last conv map)."""
    if patches.shape[1:] != (yamnet_features.PATCH_FRAMES, yamnet_features.N_MELS):
      raise ValueError(f"yamnet reads [N, {yamnet_features.PATCH_FRAMES}, "
                       f"{yamnet_features.N_MELS}] patches, got {patches.shape}")
    layers: Sequence = [lambda x: nn.relu6(self.conv0(x))] + list(self.blocks)
    x = patches[..., None].astype(self.dtype)
    for i, layer in enumerate(layers):
      x = layer(x)
      if i + 1 == self.frozen_layers:
        x = jax.lax.stop_gradient(x)
    return x.mean(axis=(1, 2)).astype(jnp.float32)

  def class_logits(self, embeddings: jax.Array) -> jax.Array:
    """[..., 1024] -> [..., 521] float32 logits; sigmoid gives YAMNet's scores."""
    return self.classifier(embeddings.astype(self.dtype)).astype(jnp.float32)

  def __call__(self, patches: jax.Array) -> tuple[jax.Array, jax.Array]:
    embeddings = self.embed(patches)
    return embeddings, self.class_logits(embeddings)


def frozen_mask(params: dict, frozen_layers: int, train_classifier: bool, under: str = "yamnet") -> dict:
  """A tree like a model's params, True for the YAMNet parameters (sub-tree `under`) that stay
  as converted: the first `frozen_layers` conv layers, and the class layer unless trained."""
  frozen = {"conv0", *(f"block{i}" for i in range(1, frozen_layers))} if frozen_layers else set()
  if not train_classifier:
    frozen.add("classifier")

  def is_frozen(path, _) -> bool:
    return path[0].key == under and path[1].key in frozen
  return jax.tree_util.tree_map_with_path(is_frozen, params)

