"""Runs a per-device step over every device: `jax.pmap` (default) or `jax.shard_map`.

Host batches are shaped [local_devices, per_device_batch, ...] in both modes.
Under pmap the train state carries a leading device axis; under shard_map it is
one array replicated over a 1-D ("batch",) mesh of all devices of all hosts.
"""
from __future__ import annotations

from typing import Any, Callable

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from babycry_jax.train_step import AXIS

MODES = ("pmap", "shard_map")


class Parallel:
  """Puts state and batches on the devices and runs the wrapped steps."""

  def __init__(self, mode: str = "pmap"):
    if mode not in MODES:
      raise ValueError(f"unknown parallel mode {mode!r}; choose one of {MODES}")
    self.mode = mode
    self.local_devices = jax.local_device_count()
    if mode == "shard_map":
      self.mesh = Mesh(np.asarray(jax.devices()), (AXIS,))
      self._replicated = NamedSharding(self.mesh, P())
      self._sharded = NamedSharding(self.mesh, P(AXIS))

  def replicate(self, tree: Any) -> Any:
    if self.mode == "pmap":
      # Placed by a pmapped identity, so the state already has the layout the
      # step's outputs have and the step compiles once, not again on call two.
      copies = jax.tree.map(lambda x: np.broadcast_to(np.asarray(x), (self.local_devices,) + np.shape(x)), tree)
      return jax.pmap(lambda t: t)(copies)
    return jax.device_put(tree, self._replicated)

  def unreplicate(self, tree: Any) -> Any:
    """Host numpy copy of one replica."""
    return self.first(tree)

  def shard_batch(self, batch: dict) -> dict:
    if self.mode == "pmap":
      return batch  # pmap splits the leading axis over the local devices itself
    return jax.tree.map(
        lambda x: jax.make_array_from_process_local_data(self._sharded, x.reshape((-1,) + x.shape[2:])),
        batch)

  def to_host(self, tree: Any) -> Any:
    """Per-example outputs of this process as numpy [local_devices * per_device, ...]."""
    if self.mode == "pmap":
      return jax.tree.map(lambda x: np.asarray(x).reshape((-1,) + x.shape[2:]), tree)
    return jax.tree.map(
        lambda x: np.concatenate([np.asarray(s.data) for s in x.addressable_shards]), tree)

  def first(self, tree: Any) -> Any:
    """Host numpy copy of a value that is identical on every device."""
    if self.mode == "pmap":
      # Index on the host: slicing a device array would compile an op per leaf.
      return jax.tree.map(lambda x: np.array(np.asarray(x)[0]), tree)
    # Under several processes a replicated array is not fully addressable.
    return jax.tree.map(lambda x: np.asarray(x.addressable_data(0)), tree)

  def wrap_train(self, step: Callable) -> Callable:
    if self.mode == "pmap":
      return jax.pmap(step, axis_name=AXIS, donate_argnums=(0,))
    mapped = jax.shard_map(step, mesh=self.mesh, in_specs=(P(), P(AXIS)),
                           out_specs=(P(), P()), check_vma=False)
    return jax.jit(mapped, donate_argnums=(0,))

  def wrap_eval(self, step: Callable) -> Callable:
    if self.mode == "pmap":
      return jax.pmap(step, axis_name=AXIS)
    specs = {"score": P(AXIS), "loss_sum": P(), "count": P()}
    mapped = jax.shard_map(step, mesh=self.mesh, in_specs=(P(), P(AXIS)),
                           out_specs=specs, check_vma=False)
    return jax.jit(mapped)
