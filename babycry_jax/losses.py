"""Losses over logits [B, 2] with per-example weights [B] (0 for padding)."""
import jax
import jax.numpy as jnp
import optax


def _weighted_mean(values: jnp.ndarray, weights: jnp.ndarray) -> jnp.ndarray:
  return jnp.sum(values * weights) / jnp.maximum(jnp.sum(weights), 1.0)


def cross_entropy(logits: jnp.ndarray, labels: jnp.ndarray, weights: jnp.ndarray) -> jnp.ndarray:
  """Softmax cross-entropy; `labels` may be int [B] or soft (mixup) [B, 2]."""
  logits = logits.astype(jnp.float32)
  if labels.ndim == 1:
    labels = jax.nn.one_hot(labels, logits.shape[-1])
  return _weighted_mean(optax.softmax_cross_entropy(logits, labels), weights)


def hinge(logits: jnp.ndarray, labels: jnp.ndarray, weights: jnp.ndarray) -> jnp.ndarray:
  """Linear-SVM hinge loss on the margin logits[:, 1] - logits[:, 0], y in {-1, +1}."""
  logits = logits.astype(jnp.float32)
  if labels.ndim == 2:  # soft labels: the sign of the crying share
    labels = (labels[:, 1] > 0.5).astype(jnp.int32)
  y = 2.0 * labels.astype(jnp.float32) - 1.0
  margin = logits[:, 1] - logits[:, 0]
  return _weighted_mean(jnp.maximum(0.0, 1.0 - y * margin), weights)


LOSSES = {"cross_entropy": cross_entropy, "hinge": hinge}


def get(name: str):
  if name not in LOSSES:
    raise ValueError(f"unknown loss {name!r}; choose one of {sorted(LOSSES)}")
  return LOSSES[name]
