"""The per-device train and eval steps, written once with named-axis collectives.

Both run under any strategy (babycry_jax.strategies: pmap, shard_map), whose
device axis they reduce over: gradients, losses and BatchNorm statistics are
averaged over it, and each device draws its own dropout/augmentation stream by
folding its axis index into the state's key. `build_train_step` and
`build_eval_step` wrap them for a config and a strategy.
"""
from __future__ import annotations

import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
import ml_collections
import optax
from jax import lax

from babycry_jax import augment, forward, losses
from babycry_jax.train_state import TrainState


def _accuracy_counts(logits, labels, weights):
  hard = labels if labels.ndim == 1 else jnp.argmax(labels, -1)
  correct = jnp.sum((jnp.argmax(logits, -1) == hard) * weights)
  return correct, jnp.sum(weights)


def train_step(state: TrainState, batch: dict, *, axis_name: str, loss_fn: Callable, aug: Any,
               modality_dropout: float,
               log_mel_scale: augment.LogMelScale | None = None) -> tuple[TrainState, dict]:
  """One optimizer step on this device's share of the global batch."""
  key = jax.random.fold_in(jax.random.fold_in(state.rng, state.step), lax.axis_index(axis_name))
  aug_key, dropout_key = jax.random.split(key)
  batch = augment.apply(aug_key, batch, aug, modality_dropout, log_mel_scale)

  def loss_of(params):
    out = state.apply_fn(forward.variables(params, state.batch_stats), forward.model_inputs(batch),
                         train=True, rngs={"dropout": dropout_key},
                         mutable=["batch_stats"] if state.batch_stats is not None else [])
    logits, updates = out
    return loss_fn(logits, batch["label"], batch["weight"]), (logits, updates)

  (loss, (logits, updates)), grads = jax.value_and_grad(loss_of, has_aux=True)(state.params)
  grads = lax.pmean(grads, axis_name)
  loss = lax.pmean(loss, axis_name)
  param_updates, opt_state = state.tx.update(grads, state.opt_state, state.params, value=loss)
  new_state = state.replace(
      step=state.step + 1,
      params=optax.apply_updates(state.params, param_updates),
      opt_state=opt_state,
      batch_stats=updates.get("batch_stats", state.batch_stats) if state.batch_stats is not None else None)
  correct, count = _accuracy_counts(logits, batch["label"], batch["weight"])
  metrics = {
      "loss": loss,
      "accuracy": lax.psum(correct, axis_name) / jnp.maximum(lax.psum(count, axis_name), 1.0),
      "grad_norm": optax.tree.norm(grads),
      "skipped_examples": lax.psum(jnp.sum(1.0 - batch["weight"]), axis_name),
  }
  return new_state, metrics


def eval_step(state: TrainState, batch: dict, *, axis_name: str, loss_fn: Callable) -> dict:
  """Crying probability per example (this device's rows) and summed loss over all devices."""
  logits = forward.logits(state.apply_fn, state.params, state.batch_stats, batch)
  loss = loss_fn(logits, batch["label"], batch["weight"]) * jnp.sum(batch["weight"])
  return {
      "score": forward.probability_of(logits),
      "loss_sum": lax.psum(loss, axis_name),
      "count": lax.psum(jnp.sum(batch["weight"]), axis_name),
  }


def build_train_step(config: ml_collections.ConfigDict, model, strategy,
                     log_mel_scale: augment.LogMelScale | None = None) -> Callable:
  """The config's train step over all devices of `strategy`: (state, batch) -> (state, metrics).

  `log_mel_scale` (the train split's log-mel normalisation) is needed by the
  augmentations that work in decibels (augment.AugmentConfig.needs_scale).
  """
  # Hiding the only modality a model reads would leave it nothing to learn from.
  modality_dropout = config.modality_dropout if len(model.modalities) > 1 else 0.0
  return strategy.wrap_train(functools.partial(
      train_step, axis_name=strategy.axis_name, loss_fn=losses.get(config.loss),
      aug=augment.AugmentConfig.from_config(config.augment), modality_dropout=modality_dropout,
      log_mel_scale=log_mel_scale))


def build_eval_step(loss: str, strategy) -> Callable:
  """The eval step over all devices of `strategy`: (state, batch) -> scores and summed loss."""
  return strategy.wrap_eval(functools.partial(
      eval_step, axis_name=strategy.axis_name, loss_fn=losses.get(loss)))
