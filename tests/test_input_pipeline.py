"""The TF-free loader: schema round trip, determinism, sharding, eval coverage, corrupt shards."""
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
  return ip.SplitReader(dataset, split, spec.mel_frames, spec.num_frames, **kw)


def test_schema_round_trip(dataset):
  spec = synthetic_dataset.SMALL_SPEC
  expected = synthetic_dataset.make_example(np.random.default_rng(0), spec, 0, 0)
  reader = _reader(dataset)
  record = reader.decoder.parse(reader.source[0])
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
  reader = ip.SplitReader(dataset, "train", audio_frames=30, video_frames=2)
  raw = reader.decoder.parse(reader.source[3])
  x = reader.decoder.model_inputs(raw)
  assert x["log_mel"].shape == (30, spec.n_mels) and x["frames"].shape == (2, 8, 8, 1)
  np.testing.assert_allclose(x["log_mel"], (raw["audio/log_mel"][:30].astype(np.float32) - 0.5) / 1.2,
                             rtol=1e-6)
  np.testing.assert_allclose(x["frames"], (raw["video/frames"][:2] - 80.0) / 50.0, rtol=1e-6)


def test_missing_track_stays_zero(dataset):
  reader = _reader(dataset)
  raw = dict(reader.decoder.parse(reader.source[0]), has_video=False)
  x = reader.decoder.model_inputs(raw)
  assert not x["frames"].any() and x["has_video"] == 0.0 and x["log_mel"].any()


def test_too_long_crop_is_a_clear_error(dataset):
  with pytest.raises(ValueError, match="audio_frames=999"):
    ip.SplitReader(dataset, "train", audio_frames=999, video_frames=1)


def test_train_batches_shape_and_determinism(dataset):
  a = ip.TrainStream(_reader(dataset), global_batch=16, seed=3)
  b = ip.TrainStream(_reader(dataset), global_batch=16, seed=3)
  c = ip.TrainStream(_reader(dataset), global_batch=16, seed=4)
  first = [next(a) for _ in range(5)]
  second = [next(b) for _ in range(5)]
  other = next(c)
  n = jax.local_device_count()
  assert first[0]["log_mel"].shape[:2] == (n, 16 // n)
  for x, y in zip(first, second):
    np.testing.assert_array_equal(x["log_mel"], y["log_mel"])
  assert not np.array_equal(first[0]["log_mel"], other["log_mel"])
  # 64 examples / 16 = 4 steps per epoch: the fifth batch opens epoch 1.
  assert a.position == ip.Position(epoch=1, batch=1)
  for s in (a, b, c):
    s.close()


def test_epoch_is_a_permutation_without_repeats(dataset):
  stream = ip.TrainStream(_reader(dataset), global_batch=16, seed=0)
  seen = np.concatenate([next(stream)["mfcc_stats"].reshape(16, -1)[:, 1] for _ in range(4)])
  stream.close()
  assert len(np.unique(seen)) == 64


def test_resume_from_position_continues_the_stream(dataset):
  full = ip.TrainStream(_reader(dataset), global_batch=16, seed=1)
  batches = [next(full) for _ in range(6)]
  resumed = ip.TrainStream(_reader(dataset), global_batch=16, seed=1,
                           position=ip.Position(epoch=0, batch=3))
  for expected in batches[3:]:
    np.testing.assert_array_equal(next(resumed)["log_mel"], expected["log_mel"])
  full.close()
  resumed.close()


def test_each_process_takes_its_own_rows(dataset, monkeypatch):
  rows = {}
  for p in range(2):
    monkeypatch.setattr(jax, "process_count", lambda: 2)
    monkeypatch.setattr(jax, "process_index", lambda p=p: p)
    stream = ip.TrainStream(_reader(dataset), global_batch=32, seed=5)
    assert stream.process_batch == 16
    rows[p] = stream._positions(ip.Position(0, 1))
    stream.close()
  monkeypatch.undo()
  whole = np.random.default_rng([5, 0]).permutation(64)[32:64]
  np.testing.assert_array_equal(np.concatenate([rows[0], rows[1]]), whole)


def test_eval_batches_cover_every_example_once(dataset):
  reader = _reader(dataset, "validation")  # 24 examples
  batches = list(ip.eval_batches(reader, global_batch=16))
  weights = np.concatenate([b["weight"].reshape(-1) for b in batches])
  assert len(batches) == 2 and weights.sum() == 24 and weights[24:].sum() == 0


def test_indivisible_batch_is_rejected(dataset):
  with pytest.raises(ValueError, match="divisible"):
    ip.TrainStream(_reader(dataset), global_batch=jax.device_count() + 1, seed=0)


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

  reader = _reader(str(copy), skip_corrupt=True)
  stream = ip.TrainStream(reader, global_batch=64, seed=0)
  batch = next(stream)
  stream.close()
  assert reader.num_corrupt == 1 and batch["weight"].sum() == 63
