"""Random access into indexed TFRecord shards, with every record's CRC checked.

A record's position in a split is global: records of shard 0 come first, then
shard 1, and so on, in the order the dataset's metadata lists the shards.
"""
from __future__ import annotations

import bisect
import io
import struct
import threading

import crc32c
import numpy as np

from babycry_jax import schema
from babycry_jax import storage


class CorruptRecordError(ValueError):
  """A record whose bytes do not match its CRC (or a shard cut short)."""

  def __init__(self, shard: str, position: int, detail: str):
    super().__init__(f"corrupt record {position} of shard {shard}: {detail}")
    self.shard = shard
    self.position = position


def _masked_crc(data: bytes) -> int:
  crc = crc32c.crc32c(data)
  return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _read_index(path: str) -> np.ndarray:
  """[records, 2] int64 (byte offset, record size) from a tfrecord index file."""
  if not storage.exists(path):
    raise FileNotFoundError(f"missing index file {path}: rebuild the dataset with `python -m preprocess`")
  index = np.loadtxt(io.StringIO(storage.read_text(path)), dtype=np.int64, ndmin=2)
  return index.reshape(-1, 2)


class TFRecordSource:
  """`len()` and `source[i] -> bytes` over the shards of one split."""

  def __init__(self, dataset_dir: str, split: str):
    metadata = schema.read_metadata(dataset_dir)
    if split not in metadata["splits"]:
      raise ValueError(f"split {split!r} not in {dataset_dir}; it has {sorted(metadata['splits'])}")
    self.split = split
    self._paths = [storage.join(dataset_dir, name) for name in metadata["splits"][split]["shards"]]
    self._indexes = [_read_index(schema.index_path(p)) for p in self._paths]
    self._starts = np.cumsum([0] + [len(i) for i in self._indexes]).tolist()
    self._local = threading.local()  # one open file per shard per thread

  def __len__(self) -> int:
    return self._starts[-1]

  def locate(self, position: int) -> tuple[str, int]:
    """(shard path, record number within the shard) of a global position."""
    shard = bisect.bisect_right(self._starts, position) - 1
    return self._paths[shard], position - self._starts[shard]

  def _file(self, shard: int):
    files = getattr(self._local, "files", None)
    if files is None:
      files = self._local.files = {}
    if shard not in files:
      files[shard] = storage.open_for_random_reads(self._paths[shard])
    return files[shard]

  def __getitem__(self, position: int) -> bytes:
    if not 0 <= position < len(self):
      raise IndexError(f"record {position} out of range for split {self.split} ({len(self)} records)")
    shard = bisect.bisect_right(self._starts, position) - 1
    local = position - self._starts[shard]
    offset, size = self._indexes[shard][local]
    f = self._file(shard)
    f.seek(int(offset))
    raw = f.read(int(size))
    name = storage.basename(self._paths[shard])
    if len(raw) != size or size < 16:
      raise CorruptRecordError(name, local, f"expected {size} bytes at offset {offset}, read {len(raw)}")
    header, length_crc = raw[:8], struct.unpack("<I", raw[8:12])[0]
    (length,) = struct.unpack("<Q", header)
    if _masked_crc(header) != length_crc or length != size - 16:
      raise CorruptRecordError(name, local, "length header fails its CRC")
    data = raw[12:12 + length]
    (data_crc,) = struct.unpack("<I", raw[12 + length:16 + length])
    if _masked_crc(data) != data_crc:
      raise CorruptRecordError(name, local, "payload fails its CRC")
    return data
