"""Records through fragment files into shards: order, sizes, and what a fault looks like."""
import os

import pytest

from babycry_jax.data import schema, tfrecord_codec
from preprocess import record_fragments, shard_writer

SHARDS = {"train": 1}


def _records(count: int) -> list[tuple[str, str, bytes]]:
  # Scrambled clip ids, payloads of different lengths.
  return [(f"clip{(7 * i) % count:03d}@0", schema.LABELS[i % 2], bytes([i % 251]) * (100 + 13 * i))
          for i in range(count)]


def _refs(output_dir: str, records, buffer_bytes: int) -> list[dict]:
  writer = record_fragments.WriteFragments(output_dir, buffer_bytes)
  writer.start_bundle()
  refs = [ref for record in records for _, ref in writer.process((("train", 0), record))]
  return refs + [written.value[1] for written in writer.finish_bundle()]


def _write_shard(output_dir: str, refs) -> dict:
  (summary,) = shard_writer.WriteShard(output_dir, SHARDS).process((("train", 0), refs + [None]))
  return summary


def test_a_shard_is_the_same_bytes_from_one_fragment_or_many(tmp_path):
  records = _records(40)
  one, many = str(tmp_path / "one"), str(tmp_path / "many")
  one_refs, many_refs = _refs(one, records, 1 << 30), _refs(many, records, 2000)
  assert len(one_refs) == 1 and len(many_refs) > 5
  summaries = [_write_shard(one, one_refs), _write_shard(many, list(reversed(many_refs)))]
  name = schema.shard_name("train", 0, 1)
  assert summaries[0] == summaries[1]
  assert summaries[0]["num_records"] == 40 and summaries[0]["labels"] == {"crying": 20, "not_crying": 20}
  data = open(os.path.join(one, name), "rb").read()
  assert data == open(os.path.join(many, name), "rb").read()
  assert summaries[0]["num_bytes"] == len(data)
  payloads = list(tfrecord_codec.read_records(os.path.join(one, name)))
  assert payloads == [data for _, _, data in sorted(records)]
  assert open(os.path.join(one, schema.index_path(name))).read() == tfrecord_codec.index_text(map(len, payloads))


def test_a_clip_produced_twice_is_refused(tmp_path):
  records = _records(5)
  refs = _refs(str(tmp_path), records + records[2:3], 1 << 30)
  with pytest.raises(ValueError, match=r"clip id 'clip004@0' was produced twice"):
    _write_shard(str(tmp_path), refs)


def test_a_fragment_cut_short_names_itself(tmp_path):
  refs = _refs(str(tmp_path), _records(5), 1 << 30)
  with open(refs[0]["path"], "r+b") as f:
    f.truncate(refs[0]["num_bytes"] - 10)
  with pytest.raises(IOError, match=f"fragment {refs[0]['path']}: "):
    _write_shard(str(tmp_path), refs)


def test_one_fragment_holds_a_section_per_shard(tmp_path):
  writer = record_fragments.WriteFragments(str(tmp_path), 1 << 30)
  writer.start_bundle()
  records = _records(12)
  for i, record in enumerate(records):
    assert not list(writer.process((("train", i % 3), record)))
  refs = [written.value for written in writer.finish_bundle()]
  assert [key for key, _ in refs] == [("train", 0), ("train", 1), ("train", 2)]
  assert len({ref["path"] for _, ref in refs}) == 1
  shards = {"train": 3}
  for index, (key, ref) in enumerate(refs):
    (summary,) = shard_writer.WriteShard(str(tmp_path), shards).process((key, [ref]))
    name = schema.shard_name("train", index, 3)
    assert summary["num_records"] == 4
    assert list(tfrecord_codec.read_records(os.path.join(tmp_path, name))) == [
        data for _, _, data in sorted(records[index::3])]
