"""The worker's last step: the fragments of one shard -> the shard file and its index.

A shard's records arrive as fragment references (record_fragments.py) in any
order; the records are put in clip-id order and their framed bytes copied
from the fragments into the shard, which is written with its index file
through Beam's FileSystems (a local path or gs:// alike). A retried bundle
writes the same bytes again under the same names.
"""
from __future__ import annotations

from typing import Any, Iterable, Iterator, Optional

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from babycry_jax.data import schema, tfrecord_codec
from preprocess import output_files
from preprocess import record_fragments
from preprocess import worker_console


class WriteShard(beam.DoFn):
  """((split, index), fragment refs or None placeholders) -> the shard's summary.

  The summary {"split", "index", "name", "num_records", "num_bytes", "labels"}
  is all the launcher learns of a shard. A placeholder (None) per shard makes
  every shard exist, even one that no record hashed to.

  Raises:
    ValueError: two records share a clip id.
  """

  def __init__(self, output_dir: str, shards_per_split: dict[str, int]):
    self._output_dir = output_dir
    self._shards_per_split = dict(shards_per_split)

  def setup(self):
    worker_console.install()

  def process(self, keyed: tuple[tuple[str, int], Iterable[Optional[dict[str, Any]]]]) -> Iterator[dict[str, Any]]:
    (split, index), values = keyed
    refs = [ref for ref in values if ref is not None]
    ordered = sorted((clip_id, label, offset, size, n)
                     for n, ref in enumerate(refs) for clip_id, label, offset, size in ref["entries"])
    for previous, entry in zip(ordered, ordered[1:]):
      if previous[0] == entry[0]:
        raise ValueError(f"clip id {entry[0]!r} was produced twice")
    fragments = [memoryview(record_fragments.read_fragment(ref)) for ref in refs]
    name = schema.shard_name(split, index, self._shards_per_split[split])
    path = FileSystems.join(self._output_dir, name)
    labels = {label: 0 for label in schema.LABELS}
    num_bytes = 0
    with output_files.created(path) as f:
      for _, label, offset, size, n in ordered:
        framed = tfrecord_codec.framed_size(size)
        f.write(fragments[n][offset:offset + framed])
        num_bytes += framed
        labels[label] += 1
    with output_files.created(schema.index_path(path)) as f:
      f.write(tfrecord_codec.index_text(size for _, _, _, size, _ in ordered).encode("utf-8"))
    yield {"split": split, "index": index, "name": name, "num_records": len(ordered),
           "num_bytes": num_bytes, "labels": labels}
