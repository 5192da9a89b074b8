"""The one forward path: crying probabilities from a model's variables and inputs.

Training's validation, evaluation, detection and the benchmarks all score
examples through `crying_probability` (inside the eval step or jitted on its
own), so a change to how a model is applied changes them all alike.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils

from babycry_jax import metrics
from babycry_jax.data import schema


def variables(params: Any, batch_stats: Any) -> dict:
  """The Flax variables of a state: params, and BatchNorm statistics where the model has them."""
  return {"params": params} if batch_stats is None else {"params": params, "batch_stats": batch_stats}


def model_inputs(batch: Mapping[str, Any]) -> dict:
  """The arrays of a batch that a model reads (schema.MODEL_INPUTS)."""
  return {k: batch[k] for k in schema.MODEL_INPUTS}


def logits(apply_fn: Callable, params: Any, batch_stats: Any, batch: Mapping[str, Any]) -> jax.Array:
  """[B, 2] inference logits (BatchNorm reads its running averages, dropout is off)."""
  return apply_fn(variables(params, batch_stats), model_inputs(batch), train=False)


def crying_probability(apply_fn: Callable, params: Any, batch_stats: Any,
                       batch: Mapping[str, Any]) -> jax.Array:
  """[B] float32 probability of crying (softmax of the logits, class 1)."""
  return probability_of(logits(apply_fn, params, batch_stats, batch))


def probability_of(logits_: jax.Array) -> jax.Array:
  return jax.nn.softmax(logits_.astype(jnp.float32))[:, schema.CRYING]


def score_split(strategy, p_eval_step: Callable, state: Any, batches: Iterable[Mapping[str, Any]]
                ) -> tuple[dict, np.ndarray, np.ndarray]:
  """(metrics over the whole split, labels, scores) of every example, in stored order.

  `p_eval_step` is train_step.build_eval_step's; `batches` input_pipeline.Split.eval_batches'
  (every process's share of the split). Padding examples (weight 0) are dropped.
  """
  scores, labels, weights, loss_sum, count = [], [], [], 0.0, 0.0
  for batch in batches:
    out = p_eval_step(state, strategy.shard_batch(batch))
    scores.append(strategy.to_host(out["score"]))
    labels.append(batch["label"].reshape(-1))
    weights.append(batch["weight"].reshape(-1))
    reduced = strategy.first({"loss_sum": out["loss_sum"], "count": out["count"]})
    loss_sum += float(reduced["loss_sum"])
    count += float(reduced["count"])
  scores, labels, weights = (np.concatenate(x) for x in (scores, labels, weights))
  if jax.process_count() > 1:
    gathered = multihost_utils.process_allgather(np.stack([scores, labels, weights]))
    from babycry_jax import input_pipeline   # here: detection imports this module without Grain
    scores, labels, weights = (input_pipeline.in_stored_order(gathered[:, i]) for i in range(3))
  keep = weights > 0
  result = metrics.binary_metrics(labels[keep], scores[keep])
  result["loss"] = loss_sum / max(count, 1.0)
  return result, labels[keep], scores[keep]
