"""`jax.pmap` over the local devices: the state carries a leading device axis."""
from __future__ import annotations

from typing import Any, Callable

import jax
import numpy as np

from babycry_jax.strategies import Strategy


class PmapStrategy(Strategy):

  def __init__(self):
    self.local_devices = jax.local_device_count()

  def replicate(self, tree: Any) -> Any:
    # Placed by a pmapped identity, so the state already has the layout the
    # step's outputs have and the step compiles once, not again on call two.
    copies = jax.tree.map(
        lambda x: np.broadcast_to(np.asarray(x), (self.local_devices,) + np.shape(x)), tree)
    return jax.pmap(lambda t: t)(copies)

  def shard_batch(self, batch: dict) -> dict:
    return batch  # pmap splits the leading axis over the local devices itself

  def to_host(self, tree: Any) -> Any:
    return jax.tree.map(lambda x: np.asarray(x).reshape((-1,) + x.shape[2:]), tree)

  def first(self, tree: Any) -> Any:
    # Index on the host: slicing a device array would compile an op per leaf.
    return jax.tree.map(lambda x: np.array(np.asarray(x)[0]), tree)

  def wrap_train(self, step: Callable) -> Callable:
    return jax.pmap(step, axis_name=self.axis_name, donate_argnums=(0,))

  def wrap_eval(self, step: Callable) -> Callable:
    return jax.pmap(step, axis_name=self.axis_name)
