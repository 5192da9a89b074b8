"""How a per-device step runs over every device: one interface, one file per strategy.

Host batches are shaped [local_devices, per_device_batch, ...] for every
strategy. A strategy names the device axis its steps' collectives (and the
models' BatchNorm) reduce over, places state and batches on the devices and
wraps the per-device train and eval steps.
"""
from __future__ import annotations

import abc
from typing import Any, Callable

AXIS = "batch"


class Strategy(abc.ABC):
  """Puts state and batches on the devices and runs the wrapped steps."""

  axis_name: str = AXIS

  @abc.abstractmethod
  def replicate(self, tree: Any) -> Any:
    """The host state, on the devices in the layout the wrapped steps take."""

  @abc.abstractmethod
  def shard_batch(self, batch: dict) -> dict:
    """A host batch [local_devices, per_device, ...] as the wrapped steps take it."""

  @abc.abstractmethod
  def to_host(self, tree: Any) -> Any:
    """Per-example outputs of this process as numpy [local_devices * per_device, ...]."""

  @abc.abstractmethod
  def first(self, tree: Any) -> Any:
    """Host numpy copy of a value that is identical on every device."""

  @abc.abstractmethod
  def wrap_train(self, step: Callable) -> Callable:
    """(state, batch) -> (state, metrics) over all devices; the state is donated."""

  @abc.abstractmethod
  def wrap_eval(self, step: Callable) -> Callable:
    """(state, batch) -> {"score": per example, "loss_sum", "count": reduced}."""

  def unreplicate(self, tree: Any) -> Any:
    """Host numpy copy of one replica."""
    return self.first(tree)


def names() -> tuple[str, ...]:
  return ("pmap", "shard_map")


def create(name: str) -> Strategy:
  """The strategy called `name` ("pmap" or "shard_map")."""
  if name == "pmap":
    from babycry_jax.strategies.pmap import PmapStrategy
    return PmapStrategy()
  if name == "shard_map":
    from babycry_jax.strategies.shard_map import ShardMapStrategy
    return ShardMapStrategy()
  raise ValueError(f"unknown parallel strategy {name!r}; choose one of {names()}")
