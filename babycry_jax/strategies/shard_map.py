"""`jax.shard_map` over a 1-D mesh of all devices of all hosts: one replicated state."""
from __future__ import annotations

from typing import Any, Callable

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from babycry_jax.strategies import Strategy


class ShardMapStrategy(Strategy):

  def __init__(self):
    self.mesh = Mesh(np.asarray(jax.devices()), (self.axis_name,))
    self._replicated = NamedSharding(self.mesh, P())
    self._sharded = NamedSharding(self.mesh, P(self.axis_name))

  def replicate(self, tree: Any) -> Any:
    return jax.device_put(tree, self._replicated)

  def shard_batch(self, batch: dict) -> dict:
    return jax.tree.map(
        lambda x: jax.make_array_from_process_local_data(self._sharded, x.reshape((-1,) + x.shape[2:])),
        batch)

  def to_host(self, tree: Any) -> Any:
    return jax.tree.map(
        lambda x: np.concatenate([np.asarray(s.data) for s in x.addressable_shards]), tree)

  def first(self, tree: Any) -> Any:
    # Under several processes a replicated array is not fully addressable.
    return jax.tree.map(lambda x: np.asarray(x.addressable_data(0)), tree)

  def wrap_train(self, step: Callable) -> Callable:
    mapped = jax.shard_map(step, mesh=self.mesh, in_specs=(P(), P(self.axis_name)),
                           out_specs=(P(), P()), check_vma=False)
    return jax.jit(mapped, donate_argnums=(0,))

  def wrap_eval(self, step: Callable) -> Callable:
    specs = {"score": P(self.axis_name), "loss_sum": P(), "count": P()}
    mapped = jax.shard_map(step, mesh=self.mesh, in_specs=(P(), P(self.axis_name)),
                           out_specs=specs, check_vma=False)
    return jax.jit(mapped)
