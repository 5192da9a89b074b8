"""The worker's last step: the records of one shard -> the shard file and its index.

Records arrive grouped by (split, shard index) in any order; they are sorted
by clip id, framed with the TFRecord codec and written, with their index
file, through Beam's FileSystems (a local path or gs:// alike). A retried
bundle writes the same bytes again under the same names.
"""
from __future__ import annotations

import io
from typing import Any, Iterable, Iterator, Optional

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from babycry_jax.data import schema, tfrecord_codec

Record = tuple[str, str, bytes]   # (clip_id, label, serialized example)


def shard_contents(records: Iterable[Record]) -> tuple[bytes, str, dict[str, int]]:
  """(shard bytes, index text, label counts) of a shard's records, in clip-id order.

  Raises:
    ValueError: two records share a clip id.
  """
  ordered = sorted(records, key=lambda r: r[0])
  for previous, record in zip(ordered, ordered[1:]):
    if previous[0] == record[0]:
      raise ValueError(f"clip id {record[0]!r} was produced twice")
  buffer = io.BytesIO()
  labels = {label: 0 for label in schema.LABELS}
  for _, label, data in ordered:
    tfrecord_codec.write_record(buffer, data)
    labels[label] += 1
  return buffer.getvalue(), tfrecord_codec.index_text(len(data) for _, _, data in ordered), labels


def _write(path: str, data: bytes) -> None:
  with FileSystems.create(path, mime_type="application/octet-stream") as f:
    f.write(data)


class WriteShard(beam.DoFn):
  """((split, index), records or None placeholders) -> the shard's summary.

  The summary {"split", "index", "name", "num_records", "num_bytes", "labels"}
  is all the launcher learns of a shard. A placeholder (None) per shard makes
  every shard exist, even one that no record hashed to.
  """

  def __init__(self, output_dir: str, shards_per_split: dict[str, int]):
    self._output_dir = output_dir
    self._shards_per_split = dict(shards_per_split)

  def process(self, keyed: tuple[tuple[str, int], Iterable[Optional[Record]]]) -> Iterator[dict[str, Any]]:
    (split, index), values = keyed
    data, index_text, labels = shard_contents(r for r in values if r is not None)
    name = schema.shard_name(split, index, self._shards_per_split[split])
    path = FileSystems.join(self._output_dir, name)
    _write(path, data)
    _write(schema.index_path(path), index_text.encode("utf-8"))
    yield {"split": split, "index": index, "name": name, "num_records": sum(labels.values()),
           "num_bytes": len(data), "labels": labels}
