"""Starting part of a model from another trained one (config.warm_start).

`source` is "shipped:NAME" (the package's model NAME, e.g. "shipped:real_world_cnn_pool")
or a training workdir (its best checkpoint): every layer of the source except the
sub-tree named "head" is copied into the sub-tree `into` of the new model,
parameters and BatchNorm statistics alike. Or it is "yamnet": the pretrained YAMNet converted into the
package (babycry_jax.yamnet_weights), all of it, into a models.yamnet.YamNet.
Names and shapes must match exactly: fusion_pool_3dcnn's "audio" branch is built
from cnn_pool's layers for this.
"""
from __future__ import annotations

from typing import Any

import jax
import ml_collections
import numpy as np

from babycry_jax import runs, shipped_model, yamnet_weights
from babycry_jax.train_state import TrainState

SHIPPED_PREFIX = "shipped:"


def _shipped_name(source: str) -> str | None:
  """The shipped model's name a source names, or None for a workdir."""
  return source[len(SHIPPED_PREFIX):] if source.startswith(SHIPPED_PREFIX) else None


def _source_run(source: str) -> runs.Run:
  name = _shipped_name(source)
  return shipped_model.load(name)[0] if name is not None else runs.load_run(source, "best")


def _copied(target: Any, source: dict, what: str) -> Any:
  """`target` with every leaf of `source` (same names and shapes) put in its place."""
  target_paths = {jax.tree_util.keystr(p): leaf
                  for p, leaf in jax.tree_util.tree_leaves_with_path(target)}
  source_paths = {jax.tree_util.keystr(p): leaf
                  for p, leaf in jax.tree_util.tree_leaves_with_path(source)}
  missing = sorted(set(source_paths) - set(target_paths))
  unused = sorted(set(target_paths) - set(source_paths))
  if missing or unused:
    raise ValueError(f"warm start {what}: the layers differ; only in the source: {missing or '-'}; "
                     f"only in the model: {unused or '-'}")
  for path, leaf in source_paths.items():
    if np.shape(leaf) != np.shape(target_paths[path]):
      raise ValueError(f"warm start {what}{path}: shape {np.shape(leaf)} in the source, "
                       f"{np.shape(target_paths[path])} in the model")
  return jax.tree.map(lambda _, s: np.asarray(s, np.float32), target, source)


def apply(state: TrainState, config: ml_collections.ConfigDict) -> tuple[TrainState, str]:
  """(state with the source's layers copied into config.warm_start.into, what was done)."""
  source, into = config.warm_start.source, config.warm_start.into
  if not source:
    return state, ""
  if not into:
    raise ValueError("config.warm_start.into must name the sub-tree to start (e.g. 'audio')")
  if into not in state.params:
    raise ValueError(f"config.warm_start.into={into!r}: model {config.model} has no such "
                     f"sub-tree; it has {sorted(state.params)}")
  params = dict(state.params)
  if source == yamnet_weights.WARM_START_SOURCE:
    params[into] = _copied(state.params[into], yamnet_weights.load_params(), f"params[{into!r}]")
    return state.replace(params=params), f"{into!r} starts from the pretrained YAMNet"
  run = _source_run(source)
  params[into] = _copied(state.params[into], {k: v for k, v in run.state.params.items()
                                              if k != "head"}, f"params[{into!r}]")
  batch_stats = state.batch_stats
  source_stats = {k: v for k, v in (run.state.batch_stats or {}).items() if k != "head"}
  if source_stats or (batch_stats and into in batch_stats):
    batch_stats = dict(batch_stats or {})
    batch_stats[into] = _copied((state.batch_stats or {}).get(into, {}), source_stats,
                                f"batch_stats[{into!r}]")
  # The optimizer state stays fresh: its moments start at zero for every parameter.
  name = _shipped_name(source)
  done = (f"{into!r} starts from {run.config.model} "
          f"({f'the shipped model {name}' if name else source}, step {run.step})")
  return state.replace(params=params, batch_stats=batch_stats), done
