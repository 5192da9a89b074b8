"""Model size and cost: parameter counts and XLA's FLOP estimate per example."""
from __future__ import annotations

from typing import Any, Mapping

import flax.linen as nn
import jax
import numpy as np

from babycry_jax.models.batch_inputs import Batch


def param_count(params: Any) -> int:
  """Number of scalars in a parameter tree (pass variables["params"], not BatchNorm stats)."""
  return int(sum(np.size(leaf) for leaf in jax.tree_util.tree_leaves(params)))


def _batch_size(batch: Batch) -> int:
  sizes = {np.shape(v)[0] for v in batch.values() if np.ndim(v) > 0}
  if len(sizes) != 1:
    raise ValueError(f"batch arrays disagree on the batch size: {sorted(sizes)}")
  return sizes.pop()


def _compiled_flops(fn, *args) -> float:
  analysis = jax.jit(fn).lower(*args).compile().cost_analysis()
  # Older jax versions return one dict per computation in a list.
  if isinstance(analysis, (list, tuple)):
    analysis = analysis[0] if analysis else {}
  if not analysis or "flops" not in analysis:
    raise RuntimeError("XLA's cost analysis reported no FLOP count on this backend")
  return float(analysis["flops"])


def flops_per_example(model: nn.Module, variables: Mapping[str, Any], batch: Batch,
                      train: bool = False) -> float:
  """XLA's FLOP estimate of one forward pass, divided by the batch size.

  Args:
    model: a registered model.
    variables: its variables (params and, if any, batch_stats).
    batch: a batch with the shapes of interest (see batch_inputs.example_batch).
    train: count the training-mode forward pass (dropout, batch statistics)
      instead of the inference one.

  Returns:
    FLOPs per example as XLA's compiled-program cost analysis counts them (a
    multiply-add is 2 FLOPs). XLA counts a loop body once, so a scanned
    recurrence (the `lstm` model's 300-step nn.RNN) is counted as one step;
    the segment LSTMs of the fusion models are unrolled and counted in full.
  """
  def forward(v, b):
    if train:
      return model.apply(v, b, train=True, rngs={"dropout": jax.random.key(0)},
                         mutable=["batch_stats"])
    return model.apply(v, b, train=False)
  return _compiled_flops(forward, variables, batch) / _batch_size(batch)


def train_flops_per_example(model: nn.Module, variables: Mapping[str, Any],
                            batch: Batch) -> float:
  """XLA's FLOP estimate of forward + backward (cross-entropy gradient) per example."""
  def loss(params, rest, b):
    out = model.apply({"params": params, **rest}, b, train=True,
                      rngs={"dropout": jax.random.key(0)}, mutable=["batch_stats"])
    logits = out[0]
    return -jax.nn.log_softmax(logits)[:, 1].mean()
  params = variables["params"]
  rest = {k: v for k, v in variables.items() if k != "params"}
  return _compiled_flops(jax.grad(loss), params, rest, batch) / _batch_size(batch)
