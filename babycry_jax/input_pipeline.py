"""Everything about data between the dataset dir and the devices, on Grain.

A split's records are a Grain random-access source over the indexed TFRecord
shards (memory-mapped, so a record is read without a copy). Training reads
them as one endless stream over a Grain dataset that draws a new permutation
of (seed, epoch) every epoch (EpochShuffle), and global batch k is examples
[k*B, (k+1)*B) of that stream whatever the number of processes; process p
takes every P-th of them (Grain's interleaved sharding), so processes read
disjoint records and the global batch does not depend on how many there are.
Batches are cut from the stream before any worker sees it, so the order does
not depend on the number of workers either. Epochs run into each other: no
record is dropped, and `steps_per_epoch` is just len(train) // batch.

Worker processes parse, crop and batch (frames stay uint8, a quarter of the
bytes through shared memory); a thread of the main process normalizes whole
batches ahead of the step and shapes them [local_devices, per_device_batch, ...].

Where a stream stands is one number, the examples it has handed out (the
checkpoint keeps it beside the train state): `train_dataset(start=...)`
continues there bit-exactly with any number of workers, devices or processes.
Grain's own iterator state is not saved: it is shaped by the worker count.
"""
from __future__ import annotations

import math
import os
from typing import Any, Iterator

import grain
import jax
import numpy as np
from absl import flags

from babycry_jax.console import logger
from babycry_jax.data import schema
from babycry_jax.data.example_decoder import ExampleDecoder
from babycry_jax.data.tfrecord_codec import CorruptRecordError, TFRecordSource

Batch = dict[str, np.ndarray]

log = logger()


def resolve_worker_count(worker_count: int) -> int:
  """-1 (the default) means one worker process per core this process may use, and none on a
  machine of one or two cores.

  With two cores the workers and the training process share them, and handing each batch over
  through fresh shared memory costs more than the second core gives: measured on 2 cores,
  reading in this process gave 3448 ex/s, two workers 2341 and one 1635.
  """
  if worker_count == -1:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return cores if cores > 2 else 0
  if worker_count < 0:
    raise ValueError(f"loader worker_count must be -1 (one per core) or >= 0, got {worker_count}")
  return worker_count


class RecordSource:
  """Grain's random-access source over one split: `source[i]` is record i's bytes (bytes-like).

  With `skip_corrupt` a record failing its CRC is logged and read as no bytes
  (DecodeRecord makes it a weight-0 example; None would mean "filtered out" to
  Grain); otherwise the CorruptRecordError, naming shard and record, stops the run.
  """

  def __init__(self, records: TFRecordSource, skip_corrupt: bool):
    self.records = records
    self.skip_corrupt = skip_corrupt

  def __len__(self) -> int:
    return len(self.records)

  def __getitem__(self, position: int) -> bytes | memoryview:
    try:
      return self.records[position]
    except CorruptRecordError as e:
      if not self.skip_corrupt:
        raise
      log.warning("skipping %s", e)
      return b""

  def __repr__(self) -> str:  # Grain names the source in errors and iterator states
    return f"RecordSource(split={self.records.split!r}, records={len(self)})"


class EpochShuffle(grain.MapDataset):
  """Grain's shuffle contract with one permutation per epoch instead of one call per element.

  Element `e * n + i` (epoch e, n records) is parent element `perm_e[i]`, with
  perm_e a numpy permutation seeded by (seed, e), so `.repeat()` after it
  draws a new order every epoch. Grain's own `shuffle` computes each element's
  index on its own (index_shuffle), which measured 309 us per element on a
  112-record split and 24 us on 1680 records, and 5 ms with a busy thread
  beside it: more than reading and decoding the record.
  """

  def __init__(self, parent: grain.MapDataset, seed: int):
    super().__init__(parent)
    self._seed = seed
    self._permutations: dict[int, np.ndarray] = {}

  def __len__(self) -> int:
    return len(self._parent)

  def __str__(self) -> str:
    return f"EpochShuffle(seed={self._seed})"

  def _permutation(self, epoch: int) -> np.ndarray:
    permutation = self._permutations.get(epoch)
    if permutation is None:
      permutation = np.random.default_rng([self._seed, epoch]).permutation(len(self._parent))
      # Read threads and workers straddle at most two epochs; an older one is drawn again if asked.
      kept = {e: p for e, p in self._permutations.items() if e >= epoch - 1}
      self._permutations = {**kept, epoch: permutation}
    return permutation

  def __getitem__(self, index):
    if isinstance(index, slice):
      return self.slice(index)
    epoch, position = divmod(index, len(self._parent))
    return self._parent[int(self._permutation(epoch)[position])]


class DecodeRecord(grain.transforms.Map):
  """Record bytes -> decoder.raw_inputs (a skipped record -> a weight-0 stand-in)."""

  def __init__(self, decoder: ExampleDecoder):
    self.decoder = decoder

  def map(self, serialized: bytes | memoryview) -> dict[str, np.ndarray]:
    if not serialized:
      return self.decoder.padding_inputs()
    return self.decoder.raw_inputs(self.decoder.parse(serialized))


class NormalizeBatch(grain.transforms.Map):
  """A stacked batch of raw inputs -> model inputs shaped [local_devices, n // local_devices, ...]."""

  def __init__(self, decoder: ExampleDecoder, local_devices: int):
    self.decoder = decoder
    self.local_devices = local_devices

  def map(self, batch: Batch) -> Batch:
    normalized = self.decoder.normalize(batch)
    # What normalize passed through (flags, label, weight) is copied: a view of a worker's
    # shared memory kept past this call would hold its segment until the process exits.
    owned = {k: np.array(v) if v is batch[k] else v for k, v in normalized.items()}
    return {k: v.reshape((self.local_devices, -1) + v.shape[1:]) for k, v in owned.items()}


def _grain_flags_parsed() -> None:
  # Grain reads its options from absl flags; a process not started through
  # absl.app (tests, notebooks, benchmarks) gets their defaults.
  if not flags.FLAGS.is_parsed():
    flags.FLAGS.mark_as_parsed()


class Split:
  """One split of a dataset dir: its records, decoder and Grain datasets."""

  def __init__(self, dataset_dir: str, split: str, audio_frames: int, video_frames: int,
               skip_corrupt: bool = False):
    self.metadata = schema.read_metadata(dataset_dir)
    self.records = TFRecordSource(dataset_dir, split)
    self.decoder = ExampleDecoder(self.metadata, audio_frames, video_frames)
    self.source = RecordSource(self.records, skip_corrupt)

  def __len__(self) -> int:
    return len(self.records)

  def example(self, position: int) -> dict[str, Any]:
    """Record `position` as stored (decoder.parse)."""
    return self.decoder.parse(self.records[position])

  def _process_share(self, global_batch: int) -> tuple[int, int, int]:
    """(process_index, process_count, process_batch), checking the batch divides evenly."""
    process_count = jax.process_count()
    devices = process_count * jax.local_device_count()
    if global_batch % devices:
      raise ValueError(f"batch size {global_batch} must be divisible by the {devices} devices")
    return jax.process_index(), process_count, global_batch // process_count

  def train_dataset(self, global_batch: int, seed: int, start: int = 0, worker_count: int = 0,
                    worker_buffer_size: int = 2, read_threads: int = 2) -> grain.IterDataset:
    """This process's endless stream of training batches, from example `start` of the global
    stream on (see the module docstring); `worker_count` -1: see resolve_worker_count."""
    process_index, process_count, process_batch = self._process_share(global_batch)
    if len(self) < global_batch:
      raise ValueError(f"the training split has {len(self)} examples, fewer than one "
                       f"batch of {global_batch}")
    _grain_flags_parsed()
    stream = EpochShuffle(grain.MapDataset.source(self.source), seed).repeat()[start:]
    batches = (stream[process_index::process_count]
               .map(DecodeRecord(self.decoder))
               .batch(process_batch))
    ds = batches.to_iter_dataset(grain.ReadOptions(num_threads=read_threads,
                                                   prefetch_buffer_size=worker_buffer_size))
    workers = resolve_worker_count(worker_count)
    if workers:
      ds = ds.mp_prefetch(grain.MultiprocessingOptions(
          num_workers=workers, per_worker_buffer_size=worker_buffer_size))
    ds = ds.map(NormalizeBatch(self.decoder, jax.local_device_count()))
    # A thread keeps normalised batches ready, so the training step never waits for it.
    return grain.experimental.ThreadPrefetchIterDataset(ds, prefetch_buffer_size=worker_buffer_size)

  def eval_batches(self, global_batch: int, read_threads: int = 2) -> Iterator[Batch]:
    """Every example exactly once, this process's share, in stored order.

    Process p holds records p, p+P, p+2P, ...; every process yields
    ceil(len / global_batch) batches, the last ones padded with weight-0
    examples, so metrics count each real example once whatever the number of
    devices. `in_stored_order` puts gathered per-example values back in order.
    """
    process_index, process_count, process_batch = self._process_share(global_batch)
    _grain_flags_parsed()
    mine = grain.MapDataset.source(self.source)[process_index::process_count]
    ds = (mine.map(DecodeRecord(self.decoder)).batch(process_batch)
          .to_iter_dataset(grain.ReadOptions(num_threads=read_threads, prefetch_buffer_size=4)))
    to_devices = NormalizeBatch(self.decoder, jax.local_device_count())
    # A whole batch of weight-0 examples: the tail of a short batch, or a batch of its own.
    padding = {k: np.stack([v] * process_batch) for k, v in self.decoder.padding_inputs().items()}
    num_batches, done = math.ceil(len(self) / global_batch), 0
    for batch in ds:
      short = process_batch - len(batch["weight"])
      if short:
        batch = {k: np.concatenate([v, padding[k][:short]]) for k, v in batch.items()}
      yield to_devices.map(batch)
      done += 1
    for _ in range(num_batches - done):
      yield to_devices.map(padding)


def in_stored_order(per_process: np.ndarray) -> np.ndarray:
  """[processes, n] values of Split.eval_batches' examples -> one array in stored order.

  Example i of process p is record p + P*i, so the order is the transposed one;
  padding (records past the end) comes last.
  """
  return np.asarray(per_process).T.reshape(-1)
