"""Everything about data between the dataset dir and the devices (TF-free).

Training batches are shaped [local_devices, per_device_batch, ...]. The order
of examples is a pure function of (seed, epoch), each JAX process takes its
own slice of every global batch, and a position (epoch, batch) is all a
checkpoint needs to resume the stream exactly.
"""
from __future__ import annotations

import concurrent.futures
import dataclasses
import queue
import threading
from typing import Any, Iterator

import jax
import numpy as np

from babycry_jax.console import logger
from babycry_jax.data import schema
from babycry_jax.data.example_decoder import ExampleDecoder
from babycry_jax.data.tfrecord_codec import CorruptRecordError, TFRecordSource

Batch = dict[str, np.ndarray]

log = logger()


@dataclasses.dataclass(frozen=True)
class Position:
  """Where a training stream stands: the next batch to read is `batch` of `epoch`."""
  epoch: int = 0
  batch: int = 0


def _stack(examples: list[dict[str, Any]]) -> Batch:
  return {k: np.stack([e[k] for e in examples]) for k in examples[0]}


def _empty_like(example: dict[str, Any]) -> dict[str, Any]:
  return {k: np.zeros_like(v) for k, v in example.items()}


class SplitReader:
  """Reads and decodes examples of one split, skipping or raising on corrupt records."""

  def __init__(self, dataset_dir: str, split: str, audio_frames: int, video_frames: int,
               skip_corrupt: bool = False, num_threads: int = 4):
    self.metadata = schema.read_metadata(dataset_dir)
    self.source = TFRecordSource(dataset_dir, split)
    self.decoder = ExampleDecoder(self.metadata, audio_frames, video_frames)
    self.skip_corrupt = skip_corrupt
    self.num_corrupt = 0
    self._pool = concurrent.futures.ThreadPoolExecutor(num_threads)

  def __len__(self) -> int:
    return len(self.source)

  def _read(self, position: int) -> dict[str, Any] | None:
    try:
      return self.decoder.model_inputs(self.decoder.parse(self.source[position]))
    except CorruptRecordError as e:
      if not self.skip_corrupt:
        raise
      log.warning("skipping %s", e)
      self.num_corrupt += 1
      return None

  def read_many(self, positions: np.ndarray) -> list[dict[str, Any] | None]:
    return list(self._pool.map(self._read, positions.tolist()))


def _to_devices(examples: list[dict[str, Any] | None], template: dict[str, Any],
                local_devices: int) -> Batch:
  """[n] examples -> [local_devices, n // local_devices, ...]; missing ones get weight 0."""
  filled = [e if e is not None else _empty_like(template) for e in examples]
  batch = _stack(filled)
  return {k: v.reshape((local_devices, -1) + v.shape[1:]) for k, v in batch.items()}


class TrainStream:
  """An endless stream of training batches from a Position on.

  Every global batch holds `global_batch` examples drawn without replacement
  from a per-epoch permutation seeded by (seed, epoch); the last incomplete
  batch of an epoch is dropped. Process p of P takes rows [p*n/P, (p+1)*n/P).
  """

  def __init__(self, reader: SplitReader, global_batch: int, seed: int,
               position: Position = Position(), prefetch: int = 2):
    self.reader = reader
    self.global_batch = global_batch
    self.seed = seed
    process_count, local_devices = jax.process_count(), jax.local_device_count()
    devices = process_count * local_devices
    if global_batch % devices:
      raise ValueError(f"batch_size={global_batch} must be divisible by the {devices} devices")
    self.process_batch = global_batch // process_count
    self.local_devices = local_devices
    self.steps_per_epoch = len(reader) // global_batch
    if self.steps_per_epoch == 0:
      raise ValueError(f"the training split has {len(reader)} examples, fewer than one "
                       f"batch of {global_batch}")
    self.position = position  # of the next batch handed out
    self._template = None
    self._queue: queue.Queue = queue.Queue(maxsize=prefetch)
    self._stop = threading.Event()
    self._thread = threading.Thread(target=self._produce, args=(position,), daemon=True)
    self._thread.start()

  def permutation(self, epoch: int) -> np.ndarray:
    return np.random.default_rng([self.seed, epoch]).permutation(len(self.reader))

  def _positions(self, pos: Position) -> np.ndarray:
    rows = self.permutation(pos.epoch)[pos.batch * self.global_batch:(pos.batch + 1) * self.global_batch]
    start = jax.process_index() * self.process_batch
    return rows[start:start + self.process_batch]

  def _produce(self, pos: Position) -> None:
    try:
      while not self._stop.is_set():
        examples = self.reader.read_many(self._positions(pos))
        if self._template is None:
          self._template = next(e for e in examples if e is not None)
        batch = _to_devices(examples, self._template, self.local_devices)
        nxt = Position(pos.epoch, pos.batch + 1)
        if nxt.batch == self.steps_per_epoch:
          nxt = Position(pos.epoch + 1, 0)
        while not self._stop.is_set():
          try:
            self._queue.put((batch, nxt), timeout=0.1)
            break
          except queue.Full:
            pass
        pos = nxt
    except BaseException as e:  # hand the failure to the consumer
      self._queue.put((e, None))

  def __iter__(self) -> Iterator[Batch]:
    return self

  def __next__(self) -> Batch:
    batch, nxt = self._queue.get()
    if isinstance(batch, BaseException):
      raise batch
    self.position = nxt
    return batch

  def close(self) -> None:
    self._stop.set()


def eval_batches(reader: SplitReader, global_batch: int) -> Iterator[Batch]:
  """Every example of the split exactly once, in stored order, this process's share.

  The last batch is padded with weight-0 examples, so metrics count each real
  example once whatever the number of devices.
  """
  process_count, process_index = jax.process_count(), jax.process_index()
  local_devices = jax.local_device_count()
  if global_batch % (process_count * local_devices):
    raise ValueError(f"eval batch {global_batch} must be divisible by "
                     f"{process_count * local_devices} devices")
  process_batch = global_batch // process_count
  template = None
  for start in range(0, len(reader), global_batch):
    rows = np.arange(start, min(start + global_batch, len(reader)))
    rows = rows[process_index * process_batch:(process_index + 1) * process_batch]
    examples = reader.read_many(rows) if len(rows) else []
    if template is None:
      template = next((e for e in examples if e is not None), None)
      if template is None:
        template = reader.read_many(np.arange(1))[0]
    examples += [None] * (process_batch - len(examples))
    yield _to_devices(examples, template, local_devices)
