"""The Grain loader: schema round trip, determinism, workers, sharding, eval coverage, corrupt shards."""
import io
import json
import os

import jax
import numpy as np
import pytest

import synthetic_dataset
from babycry_jax import input_pipeline as ip
from babycry_jax.data import schema
from babycry_jax.data.tfrecord_codec import CorruptRecordError, TFRecordSource


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
  return synthetic_dataset.write(str(tmp_path_factory.mktemp("ds") / "d"))


def _reader(dataset, split="train", **kw):
  spec = synthetic_dataset.SMALL_SPEC
  return ip.Split(dataset, split, spec.mel_frames, spec.num_frames, **kw)


def test_schema_round_trip(dataset):
  spec = synthetic_dataset.SMALL_SPEC
  expected = synthetic_dataset.make_example(np.random.default_rng(0), spec, 0, 0)
  record = _reader(dataset).example(0)
  assert record["clip_id"].decode() == expected["clip_id"]
  assert record["label"] == 0 and record["source_id"].decode() == "src0"
  np.testing.assert_array_equal(record["audio/log_mel"], expected["audio/log_mel"])
  np.testing.assert_array_equal(record["video/frames"], expected["video/frames"])
  np.testing.assert_array_equal(record["audio/mfcc_stats"], expected["audio/mfcc_stats"])
  assert record["audio/log_mel"].dtype == np.float32  # float16-exact values, kept wide
  assert record["video/frames"].dtype == np.uint8


def test_older_record_format_asks_for_a_rebuild(tmp_path):
  old = synthetic_dataset.write(str(tmp_path / "old"))
  path = os.path.join(old, schema.METADATA_FILE)
  with open(path) as f:
    metadata = json.load(f)
  del metadata["record_format"]  # written before the field existed: format 1
  with open(path, "w") as f:
    json.dump(metadata, f)
  with pytest.raises(ValueError, match=f"format 1; this version reads format {schema.RECORD_FORMAT}.*--overwrite"):
    _reader(old)


def test_model_inputs_are_normalized_and_cropped(dataset):
  spec = synthetic_dataset.SMALL_SPEC
  split = ip.Split(dataset, "train", audio_frames=30, video_frames=2)
  raw = split.example(3)
  x = split.decoder.model_inputs(raw)
  assert x["log_mel"].shape == (30, spec.n_mels) and x["frames"].shape == (2, 8, 8, 1)
  np.testing.assert_allclose(x["log_mel"], (raw["audio/log_mel"][:30].astype(np.float32) - 0.5) / 1.2,
                             rtol=1e-6)
  np.testing.assert_allclose(x["frames"], (raw["video/frames"][:2] - 80.0) / 50.0, rtol=1e-6)


def test_missing_track_stays_zero(dataset):
  split = _reader(dataset)
  raw = dict(split.example(0), has_video=False)
  x = split.decoder.model_inputs(raw)
  assert not x["frames"].any() and x["has_video"] == 0.0 and x["log_mel"].any()


def test_too_long_crop_is_a_clear_error(dataset):
  with pytest.raises(ValueError, match="audio_frames=999"):
    ip.Split(dataset, "train", audio_frames=999, video_frames=1)


def _ids(split):
  """mfcc_stats[1] of every record: a value unique to each synthetic example."""
  return np.array([split.example(i)["audio/mfcc_stats"][1] for i in range(len(split))], np.float32)


def _batch_ids(batch, split, ids):
  """Record positions of a batch's examples (normalization undone on mfcc_stats[1])."""
  mean, std = (np.asarray(split.metadata["stats"]["audio/mfcc_stats"][k][1], np.float32)
               for k in ("mean", "std"))
  values = batch["mfcc_stats"].reshape(-1, batch["mfcc_stats"].shape[-1])[:, 1] * std + mean
  return [int(np.argmin(np.abs(ids - v))) for v in values]


def _stream(dataset, seed=3, global_batch=16, **kw):
  return iter(_reader(dataset).train_dataset(global_batch, seed, **kw))


def test_train_batches_shape_and_determinism(dataset):
  a, b, c = _stream(dataset), _stream(dataset), _stream(dataset, seed=4)
  first = [next(a) for _ in range(5)]
  second = [next(b) for _ in range(5)]
  other = next(c)
  n = jax.local_device_count()
  assert first[0]["log_mel"].shape[:2] == (n, 16 // n)
  assert first[0]["frames"].dtype == np.float32
  for x, y in zip(first, second):
    for key in x:
      np.testing.assert_array_equal(x[key], y[key])
  assert not np.array_equal(first[0]["log_mel"], other["log_mel"])


def test_worker_processes_give_the_same_stream(dataset):
  in_process = _stream(dataset, worker_count=0)
  workers = _stream(dataset, worker_count=2, read_threads=1)
  for _ in range(6):  # past the end of the first epoch (4 batches)
    x, y = next(in_process), next(workers)
    for key in x:
      np.testing.assert_array_equal(x[key], y[key])
  workers.close()


def test_each_epoch_is_a_new_permutation(dataset):
  split = _reader(dataset)
  ids = _ids(split)
  stream = iter(split.train_dataset(16, seed=0))
  epochs = [sum((_batch_ids(next(stream), split, ids) for _ in range(4)), []) for _ in range(2)]
  for epoch in epochs:
    assert sorted(epoch) == list(range(64))
  assert epochs[0] != epochs[1]


def test_epoch_shuffle_draws_a_seeded_permutation_per_epoch():
  import grain
  shuffled = ip.EpochShuffle(grain.MapDataset.range(10), seed=7).repeat()
  epochs = [[shuffled[e * 10 + i] for i in range(10)] for e in range(3)]
  assert all(sorted(epoch) == list(range(10)) for epoch in epochs)
  assert len({tuple(epoch) for epoch in epochs}) == 3
  again = ip.EpochShuffle(grain.MapDataset.range(10), seed=7).repeat()
  assert [again[25 - i] for i in range(26)] == [epochs[(25 - i) // 10][(25 - i) % 10] for i in range(26)]
  other = ip.EpochShuffle(grain.MapDataset.range(10), seed=8).repeat()
  assert [other[i] for i in range(10)] != epochs[0]


def test_default_worker_count_follows_the_cores(monkeypatch):
  for cores, workers in ((1, 0), (2, 0), (4, 4), (16, 16)):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid, n=cores: set(range(n)))
    assert ip.resolve_worker_count(-1) == workers
  assert ip.resolve_worker_count(3) == 3
  with pytest.raises(ValueError, match="worker_count must be -1"):
    ip.resolve_worker_count(-2)


def test_start_continues_the_stream(dataset):
  full = _stream(dataset, seed=1)
  batches = [next(full) for _ in range(6)]
  resumed = _stream(dataset, seed=1, start=3 * 16)
  for expected in batches[3:]:
    np.testing.assert_array_equal(next(resumed)["log_mel"], expected["log_mel"])


def test_processes_split_each_global_batch(dataset, monkeypatch):
  split = _reader(dataset)
  ids = _ids(split)
  one = iter(split.train_dataset(32, seed=5))
  whole = [_batch_ids(next(one), split, ids) for _ in range(3)]
  shares = {}
  for p in range(2):
    monkeypatch.setattr(jax, "process_count", lambda: 2)
    monkeypatch.setattr(jax, "process_index", lambda p=p: p)
    stream = iter(split.train_dataset(32, seed=5))
    shares[p] = [_batch_ids(next(stream), split, ids) for _ in range(3)]
  monkeypatch.undo()
  for k in range(3):
    assert len(shares[0][k]) == len(shares[1][k]) == 16
    assert not set(shares[0][k]) & set(shares[1][k])  # disjoint records
    assert sorted(shares[0][k] + shares[1][k]) == sorted(whole[k])  # the same global batch


def test_eval_batches_cover_every_example_once_in_order(dataset):
  split = _reader(dataset, "validation")  # 24 examples
  batches = list(split.eval_batches(16))
  weights = np.concatenate([b["weight"].reshape(-1) for b in batches])
  assert len(batches) == 2 and weights.sum() == 24 and weights[24:].sum() == 0
  got = [i for b in batches for i in _batch_ids(b, split, _ids(split))][:24]
  assert got == list(range(24))


def test_eval_shares_of_two_processes_go_back_in_order(dataset, monkeypatch):
  split = _reader(dataset, "validation")  # 24 examples
  ids = _ids(split)
  shares = []
  for p in range(2):
    monkeypatch.setattr(jax, "process_count", lambda: 2)
    monkeypatch.setattr(jax, "process_index", lambda p=p: p)
    rows = []
    for b in split.eval_batches(16):  # 2 batches of 8 per process, the last half padding
      weight = b["weight"].reshape(-1)
      rows += [i if w else -1 for i, w in zip(_batch_ids(b, split, ids), weight)]
    shares.append(rows)
  monkeypatch.undo()
  assert [len(s) for s in shares] == [16, 16]
  order = ip.in_stored_order(np.array(shares))
  np.testing.assert_array_equal(order, list(range(24)) + [-1] * 8)


def test_indivisible_batch_is_rejected(dataset):
  with pytest.raises(ValueError, match="divisible"):
    _reader(dataset).train_dataset(jax.device_count() + 1, seed=0)


def _flip_byte(path, offset):
  with open(path, "r+b") as f:
    f.seek(offset)
    byte = f.read(1)
    f.seek(offset)
    f.write(bytes([byte[0] ^ 0xFF]))


def test_corrupt_record_names_shard_and_position(dataset, tmp_path):
  import shutil
  copy = tmp_path / "copy"
  shutil.copytree(dataset, copy)
  metadata = schema.read_metadata(str(copy))
  shard = metadata["splits"]["train"]["shards"][1]
  offsets = np.loadtxt(schema.index_path(str(copy / shard)), dtype=np.int64)
  _flip_byte(copy / shard, int(offsets[2, 0]) + 100)
  source = TFRecordSource(str(copy), "train")
  first_len = metadata["splits"]["train"]["shard_lengths"][0]
  source[first_len + 1]  # its neighbour is intact
  with pytest.raises(CorruptRecordError, match=f"record 2 of shard {shard}"):
    source[first_len + 2]

  batch = next(iter(_reader(str(copy), skip_corrupt=True).train_dataset(64, seed=0)))
  assert batch["weight"].sum() == 63
  with pytest.raises(CorruptRecordError, match=f"record 2 of shard {shard}"):
    next(iter(_reader(str(copy)).train_dataset(64, seed=0)))


def test_a_bucket_read_that_returns_part_of_a_record_reads_on(dataset, monkeypatch):
  from babycry_jax.data import storage

  class ShortReads(io.FileIO):
    def read(self, size=-1):   # at most 100 bytes a call, as a remote stream may give
      return super().read(min(size, 100) if size >= 0 else 100)

  source = TFRecordSource(dataset, "train")
  local = [bytes(source[i]) for i in range(len(source))]
  remote = TFRecordSource(dataset, "train")
  monkeypatch.setattr(storage, "is_url", lambda path: True)
  monkeypatch.setattr(storage, "open_for_random_reads", ShortReads)
  assert [bytes(remote[i]) for i in range(len(remote))] == local
