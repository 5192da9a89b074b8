"""How records travel from the decoding workers to the shard writers: fragment files.

Grouping the records themselves by shard would carry every byte of the
dataset through the runner's shuffle, which on the DirectRunner is the
launching process's memory. Instead a decoding worker buffers its records per
shard and, when the buffers are full and at the end of each bundle, writes
them all as one fragment file (TFRecord-framed, one section per shard, under
the output's `_fragments/`) through Beam's FileSystems. Only a small
reference per section (the fragment's path, the section's byte range and,
per record, the clip id, label, offset and payload size) is grouped by
shard; the shard writer reads just its sections back. The launcher removes
the folder, one delete, before the dataset is published: a retried shard
writer still finds its fragments, and a fragment of a failed bundle attempt
(its name is new for every attempt) is never referenced.
"""
from __future__ import annotations

import io
import uuid
from typing import Any, Iterator, Sequence

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.transforms.window import GlobalWindows

from babycry_jax.data import tfrecord_codec
from preprocess import output_files
from preprocess import worker_console

FRAGMENTS_DIR = "_fragments"
# A worker writes out its buffers once they hold this much (about 240 records at the paper preset).
DEFAULT_BUFFER_BYTES = 64 << 20

ShardKey = tuple[str, int]          # (split, shard index)
Entry = tuple[str, str, int, int]   # (clip_id, label, offset in the fragment, payload size)


def fragment_ref(path: str, start: int, entries: Sequence[Entry], num_bytes: int) -> dict[str, Any]:
  """What the shard writer learns of one shard's section of a fragment (offsets within it)."""
  return {"path": path, "start": start, "entries": [list(e) for e in entries], "num_bytes": num_bytes}


class WriteFragments(beam.DoFn):
  """((split, shard), (clip_id, label, example bytes)) -> ((split, shard), fragment ref).

  Records are buffered per shard within a bundle; once the buffers together
  reach `buffer_bytes`, and at the end of the bundle, they are written as one
  fragment with a section per shard.
  """

  def __init__(self, output_dir: str, buffer_bytes: int = DEFAULT_BUFFER_BYTES):
    self._folder = FileSystems.join(output_dir, FRAGMENTS_DIR)
    self._buffer_bytes = buffer_bytes

  def setup(self):
    worker_console.install()

  def start_bundle(self):
    self._buffers: dict[ShardKey, tuple[io.BytesIO, list[Entry]]] = {}
    self._buffered = 0

  def process(self, keyed: tuple[ShardKey, tuple[str, str, bytes]]) -> Iterator[tuple[ShardKey, dict[str, Any]]]:
    key, (clip_id, label, data) = keyed
    buffer, entries = self._buffers.setdefault(key, (io.BytesIO(), []))
    entries.append((clip_id, label, buffer.tell(), len(data)))
    self._buffered += tfrecord_codec.write_record(buffer, data)
    if self._buffered >= self._buffer_bytes:
      yield from self._write_fragment()

  def finish_bundle(self):
    for keyed_ref in self._write_fragment():
      yield GlobalWindows.windowed_value(keyed_ref)

  def _write_fragment(self) -> Iterator[tuple[ShardKey, dict[str, Any]]]:
    if not self._buffers:
      return
    path = FileSystems.join(self._folder, f"{uuid.uuid4().hex}.tfrecord")
    refs, start = [], 0
    with output_files.created(path) as f:
      for key in sorted(self._buffers):
        buffer, entries = self._buffers[key]
        f.write(buffer.getbuffer())
        refs.append((key, fragment_ref(path, start, entries, buffer.tell())))
        start += buffer.tell()
    self._buffers.clear()
    self._buffered = 0
    yield from refs


def read_fragment(ref: dict[str, Any]) -> bytes:
  """One shard's section of a fragment, checked to be as long as its reference says.

  Raises:
    IOError: the section is cut short (a storage fault, not bad input).
  """
  with FileSystems.open(ref["path"], compression_type="uncompressed") as f:
    f.seek(ref["start"])
    data = f.read(ref["num_bytes"])
  if len(data) != ref["num_bytes"]:
    raise IOError(f"fragment {ref['path']}: {len(data)} bytes at offset {ref['start']}, "
                  f"{ref['num_bytes']} were written")
  return data
