"""The per-device train and eval steps, written once with named-axis collectives.

Both run under `jax.pmap` or `jax.shard_map` (see parallel.py) with the
device axis named "batch": gradients, losses and BatchNorm statistics are
averaged over it, and each device draws its own dropout/augmentation stream by
folding its axis index into the state's key.
"""
from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax
from flax.training import train_state
from jax import lax

from babycry_jax import augment

AXIS = "batch"
MODEL_INPUTS = ("log_mel", "mfcc_stats", "frames", "has_audio", "has_video")


class TrainState(train_state.TrainState):
  batch_stats: Any = None
  rng: jax.Array = None  # base key; the step and device index are folded in


def _variables(params, batch_stats) -> dict:
  return {"params": params} if batch_stats is None else {"params": params, "batch_stats": batch_stats}


def _accuracy_counts(logits, labels, weights):
  hard = labels if labels.ndim == 1 else jnp.argmax(labels, -1)
  correct = jnp.sum((jnp.argmax(logits, -1) == hard) * weights)
  return correct, jnp.sum(weights)


def train_step(state: TrainState, batch: dict, *, loss_fn: Callable, aug: Any,
               modality_dropout: float) -> tuple[TrainState, dict]:
  """One optimizer step on this device's share of the global batch."""
  key = jax.random.fold_in(jax.random.fold_in(state.rng, state.step), lax.axis_index(AXIS))
  aug_key, dropout_key = jax.random.split(key)
  batch = augment.apply(aug_key, batch, aug, modality_dropout)
  inputs = {k: batch[k] for k in MODEL_INPUTS}

  def loss_of(params):
    out = state.apply_fn(_variables(params, state.batch_stats), inputs, train=True,
                         rngs={"dropout": dropout_key},
                         mutable=["batch_stats"] if state.batch_stats is not None else [])
    logits, updates = out
    return loss_fn(logits, batch["label"], batch["weight"]), (logits, updates)

  (loss, (logits, updates)), grads = jax.value_and_grad(loss_of, has_aux=True)(state.params)
  grads = lax.pmean(grads, AXIS)
  loss = lax.pmean(loss, AXIS)
  param_updates, opt_state = state.tx.update(grads, state.opt_state, state.params, value=loss)
  new_state = state.replace(
      step=state.step + 1,
      params=optax.apply_updates(state.params, param_updates),
      opt_state=opt_state,
      batch_stats=updates.get("batch_stats", state.batch_stats) if state.batch_stats is not None else None)
  correct, count = _accuracy_counts(logits, batch["label"], batch["weight"])
  metrics = {
      "loss": loss,
      "accuracy": lax.psum(correct, AXIS) / jnp.maximum(lax.psum(count, AXIS), 1.0),
      "grad_norm": optax.tree.norm(grads),
      "skipped_examples": lax.psum(jnp.sum(1.0 - batch["weight"]), AXIS),
  }
  return new_state, metrics


def eval_step(state: TrainState, batch: dict, *, loss_fn: Callable) -> dict:
  """Crying probability per example (this device's rows) and summed loss over all devices."""
  inputs = {k: batch[k] for k in MODEL_INPUTS}
  logits = state.apply_fn(_variables(state.params, state.batch_stats), inputs, train=False)
  loss = loss_fn(logits, batch["label"], batch["weight"]) * jnp.sum(batch["weight"])
  return {
      "score": jax.nn.softmax(logits.astype(jnp.float32))[:, 1],
      "loss_sum": lax.psum(loss, AXIS),
      "count": lax.psum(jnp.sum(batch["weight"]), AXIS),
  }

