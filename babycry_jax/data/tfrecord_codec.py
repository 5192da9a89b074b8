"""The one TFRecord codec: framing, index files and CRC-checked random access.

A TFRecord is (length u64, masked crc32c of the length, payload, masked crc32c
of the payload). Each shard has an index file beside it with one
`offset size` line per record, which gives random access. Preprocessing writes
shards with `write_record`/`write_shard`; the loader reads them through
`TFRecordSource`.

A record's position in a split is global: records of shard 0 come first, then
shard 1, and so on, in the order the dataset's metadata lists the shards.
"""
from __future__ import annotations

import bisect
import io
import mmap
import os
import struct
import threading
from typing import BinaryIO, Iterable, Iterator

import google_crc32c
import numpy as np

from babycry_jax.data import schema
from babycry_jax.data import storage

_HEADER_BYTES = 12  # length + its crc
_FRAMING_BYTES = 16  # header + payload crc


class CorruptRecordError(ValueError):
  """A record whose bytes do not match its CRC (or a shard cut short)."""

  def __init__(self, shard: str, position: int, detail: str):
    super().__init__(f"corrupt record {position} of shard {shard}: {detail}")
    self.shard = shard
    self.position = position


def masked_crc(data: bytes | np.ndarray) -> int:
  crc = google_crc32c.value(data)
  return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


# ---------------------------------------------------------------- writing

def framed_size(payload_size: int) -> int:
  """The bytes a record of this payload size takes in a shard."""
  return payload_size + _FRAMING_BYTES


def write_record(f: BinaryIO, data: bytes) -> int:
  """Appends one TFRecord and returns the bytes written (its framed size)."""
  length = struct.pack("<Q", len(data))
  f.write(length)
  f.write(struct.pack("<I", masked_crc(length)))
  f.write(data)
  f.write(struct.pack("<I", masked_crc(data)))
  return framed_size(len(data))


def index_text(sizes: Iterable[int]) -> str:
  """The index file of a shard whose records have these payload sizes."""
  lines, offset = [], 0
  for size in sizes:
    lines.append(f"{offset} {framed_size(size)}\n")
    offset += framed_size(size)
  return "".join(lines)


def write_shard(path: str, payloads: Iterable[bytes]) -> tuple[int, int]:
  """Writes a shard and its index file (local or gs://); returns (records, bytes)."""
  buffer, sizes = io.BytesIO(), []
  for data in payloads:
    write_record(buffer, data)
    sizes.append(len(data))
  storage.write_bytes(path, buffer.getvalue())
  storage.write_text(schema.index_path(path), index_text(sizes))
  return len(sizes), buffer.tell()


# ---------------------------------------------------------------- sequential reading

def read_records(path: str) -> Iterator[bytes]:
  """Yields the payload of every record of a TFRecord file (local or gs://), checking CRCs."""
  with storage.open_file(path, "rb") as f:
    while True:
      header = f.read(_HEADER_BYTES)
      if not header:
        return
      (length,) = struct.unpack("<Q", header[:8])
      data = f.read(length)
      footer = f.read(4)
      if len(data) < length or len(footer) < 4:
        raise IOError(f"{path}: truncated TFRecord")
      if struct.unpack("<I", footer)[0] != masked_crc(data):
        raise IOError(f"{path}: TFRecord data CRC mismatch")
      yield data


# ---------------------------------------------------------------- random access

def _read_index(path: str) -> np.ndarray:
  """[records, 2] int64 (byte offset, record size) from a tfrecord index file."""
  if not storage.exists(path):
    raise FileNotFoundError(f"missing index file {path}: rebuild the dataset with `python -m preprocess`")
  index = np.loadtxt(io.StringIO(storage.read_text(path)), dtype=np.int64, ndmin=2)
  return index.reshape(-1, 2)


class TFRecordSource:
  """`len()` and `source[i] -> bytes-like` over the shards of one split.

  A local shard is memory-mapped once per process and a record is a read-only
  memoryview of it: no copy and no fresh allocation per record, which made
  reading the costliest step of the loader. Shards in a bucket are read with
  one ranged request per record. Pickles without its maps and open
  files (loader worker processes make their own).
  """

  def __init__(self, dataset_dir: str, split: str):
    metadata = schema.read_metadata(dataset_dir)
    if split not in metadata["splits"]:
      raise ValueError(f"split {split!r} not in {dataset_dir}; it has {sorted(metadata['splits'])}")
    self.split = split
    self._paths = [storage.join(dataset_dir, name) for name in metadata["splits"][split]["shards"]]
    self._indexes = [_read_index(schema.index_path(p)) for p in self._paths]
    self._starts = np.cumsum([0] + [len(i) for i in self._indexes]).tolist()
    self._reset()

  def _reset(self) -> None:
    self._maps: dict[int, memoryview] = {}   # local shards; safe to share between threads
    self._local = threading.local()  # one open remote file per shard per thread

  def __getstate__(self) -> dict:
    return {k: v for k, v in self.__dict__.items() if k not in ("_maps", "_local")}

  def __setstate__(self, state: dict) -> None:
    self.__dict__.update(state)
    self._reset()

  def __len__(self) -> int:
    return self._starts[-1]

  def _mapped(self, shard: int) -> memoryview:
    if shard not in self._maps:
      with open(self._paths[shard], "rb") as f:
        size = os.fstat(f.fileno()).st_size
        # mmap refuses an empty file; a shard no record hashed to is one.
        self._maps[shard] = memoryview(mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if size else b"")
    return self._maps[shard]

  def _read_remote(self, shard: int, offset: int, size: int) -> bytes:
    files = getattr(self._local, "files", None)
    if files is None:
      files = self._local.files = {}
    if shard not in files:
      files[shard] = storage.open_for_random_reads(self._paths[shard])
    f = files[shard]
    f.seek(offset)
    # A remote file may return fewer bytes than asked before its end; an empty read is the end.
    chunks, left = [], size
    while left and (chunk := f.read(left)):
      chunks.append(chunk)
      left -= len(chunk)
    return b"".join(chunks)

  def __getitem__(self, position: int) -> bytes | memoryview:
    if not 0 <= position < len(self):
      raise IndexError(f"record {position} out of range for split {self.split} ({len(self)} records)")
    shard = bisect.bisect_right(self._starts, position) - 1
    local = position - self._starts[shard]
    offset, size = (int(v) for v in self._indexes[shard][local])
    if storage.is_url(self._paths[shard]):
      raw = memoryview(self._read_remote(shard, offset, size))
    else:
      raw = self._mapped(shard)[offset:offset + size]
    name = storage.basename(self._paths[shard])
    if len(raw) != size or size < _FRAMING_BYTES:
      raise CorruptRecordError(name, local, f"expected {size} bytes at offset {offset}, read {len(raw)}")
    (length,), (length_crc,) = struct.unpack_from("<Q", raw), struct.unpack_from("<I", raw, 8)
    if masked_crc(bytes(raw[:8])) != length_crc or framed_size(length) != size:
      raise CorruptRecordError(name, local, "length header fails its CRC")
    data = raw[_HEADER_BYTES:_HEADER_BYTES + length]
    (data_crc,) = struct.unpack_from("<I", raw, _HEADER_BYTES + length)
    # The CRC library takes numpy's read-only view of the record (not a memoryview) without a copy.
    if masked_crc(np.frombuffer(data, np.uint8)) != data_crc:
      raise CorruptRecordError(name, local, "payload fails its CRC")
    return data
