"""End to end: generated media (good and broken) -> Beam job -> dataset dir.

The same inputs go through the DirectRunner with 1 and 2 workers and through
the portable path (a job service and a worker pool in processes of their own);
all three must give the same bytes.
"""
import json
import os
import pathlib
import subprocess
import sys

import av
import numpy as np
import pytest

from babycry_jax.data import schema
from preprocess import decode_source
from preprocess import inspect_dataset as dataset_inspect
from preprocess import local_cluster
from preprocess import pipeline

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]

# Small features keep the test quick; every size still flows from the spec.
SPEC = schema.preset("paper", window_s=2.0, hop_s=2.0, num_frames=4, frame_size=32, n_mels=32,
                     min_duration_s=1.0)


def write_media(path: pathlib.Path, duration_s: float, video: bool = True, audio: bool = True,
                fps: int = 10, tone_hz: float = 440.0, seed: int = 0) -> pathlib.Path:
  """A real media file: MPEG-4 video (64x48 noise + a moving bar) and/or a tone."""
  rng = np.random.default_rng(seed)
  path.parent.mkdir(parents=True, exist_ok=True)
  container = av.open(str(path), mode="w")
  # Every stream must exist before the first packet is muxed.
  vstream = container.add_stream("mpeg4", rate=fps) if video else None
  astream = None
  sample_rate = 16000
  if audio:
    astream = container.add_stream("aac" if path.suffix == ".mp4" else "pcm_s16le", rate=sample_rate)
    astream.layout = "mono"
  if vstream is not None:
    vstream.width, vstream.height, vstream.pix_fmt = 64, 48, "yuv420p"
    for i in range(int(round(duration_s * fps))):
      image = (rng.random((48, 64, 3)) * 120).astype(np.uint8)
      image[:, : (i * 5) % 64] = 220
      for packet in vstream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
        container.mux(packet)
    for packet in vstream.encode():
      container.mux(packet)
  if astream is not None:
    t = np.arange(int(duration_s * sample_rate)) / sample_rate
    wave = 0.3 * np.sin(2 * np.pi * tone_hz * t) + 0.05 * rng.standard_normal(t.size)
    samples = (wave * 32767).astype(np.int16)
    for start in range(0, samples.size, 1024):
      frame = av.AudioFrame.from_ndarray(samples[None, start:start + 1024], format="s16", layout="mono")
      frame.sample_rate, frame.pts = sample_rate, start
      for packet in astream.encode(frame):
        container.mux(packet)
    for packet in astream.encode():
      container.mux(packet)
  container.close()
  return path


# file -> expected reason in errors.jsonl, or None when it must give records.
EXPECTED = {
    "crying/c0.mp4": None, "crying/c1.mp4": None, "crying/c2.wav": None,
    "crying/long.mp4": None,                 # 5 s: several windows
    "crying/short_pad.wav": None,            # 1.5 s: one padded window
    "not_crying/n0.mp4": None, "not_crying/n1.mp4": None, "not_crying/n2.wav": None,
    "not_crying/audio_only.mp4": None,       # kept, has_video False
    "not_crying/silent_video.avi": None,     # kept, has_audio False
    "crying/empty.mp4": "empty_file",
    "crying/truncated.mp4": "truncated",
    "not_crying/text.mp4": "not_media",
    "not_crying/too_short.wav": "too_short",  # 0.4 s < min_duration_s
}


def make_inputs(root: pathlib.Path) -> pathlib.Path:
  for i, name in enumerate(["crying/c0.mp4", "crying/c1.mp4", "not_crying/n0.mp4", "not_crying/n1.mp4"]):
    write_media(root / name, 2.0, tone_hz=600.0 + 100 * i if name.startswith("crying") else 200.0, seed=i)
  write_media(root / "crying/c2.wav", 2.0, video=False, tone_hz=700.0, seed=5)
  write_media(root / "not_crying/n2.wav", 2.0, video=False, tone_hz=250.0, seed=6)
  write_media(root / "crying/long.mp4", 5.0, tone_hz=650.0, seed=7)
  write_media(root / "crying/short_pad.wav", 1.5, video=False, tone_hz=640.0, seed=8)
  write_media(root / "not_crying/audio_only.mp4", 2.0, video=False, seed=9)
  write_media(root / "not_crying/silent_video.avi", 2.0, audio=False, seed=10)
  write_media(root / "not_crying/too_short.wav", 0.4, video=False, seed=11)
  (root / "crying/empty.mp4").write_bytes(b"")
  whole = write_media(root / "full.mp4", 4.0, seed=12).read_bytes()
  (root / "crying/truncated.mp4").write_bytes(whole[: len(whole) // 3])
  (root / "full.mp4").unlink()
  (root / "not_crying/text.mp4").write_text("this is a text file, not a video\n" * 20)
  return root


@pytest.fixture(scope="module")
def built(tmp_path_factory):
  """One input folder built by three runners (module-wide: Beam start-up is slow)."""
  root = make_inputs(tmp_path_factory.mktemp("inputs"))
  out = tmp_path_factory.mktemp("out")
  two = pipeline.build_dataset(str(root), str(out / "two"), SPEC, num_shards=2, direct_num_workers=2,
                               log=lambda s: None)
  one = pipeline.build_dataset(str(root), str(out / "one"), SPEC, num_shards=2, direct_num_workers=1,
                               log=lambda s: None)
  cluster_log = out / "cluster.log"
  with open(cluster_log, "w") as log, local_cluster.LocalCluster(log=log) as cluster:
    pids = cluster.pids
    pipeline.build_dataset(str(root), str(out / "portable"), SPEC, num_shards=2,
                           pipeline_args=cluster.pipeline_args(), log=lambda s: None)
  return {"root": root, "two": out / "two", "one": out / "one", "portable": out / "portable",
          "summary": two, "summary_one": one, "cluster_pids": pids, "cluster_log": cluster_log}


def _records(dataset_dir: pathlib.Path, split: str) -> list[dict]:
  return list(dataset_inspect.iter_examples(str(dataset_dir), split))


def _all_records(dataset_dir: pathlib.Path) -> list[dict]:
  return [r for split in ("train", "validation", "test") for r in _records(dataset_dir, split)]


def test_errors_report_lists_each_bad_input(built):
  with open(built["two"] / schema.ERRORS_FILE) as f:
    errors = [json.loads(line) for line in f]
  got = {os.path.relpath(e["path"], built["root"]): e["reason"] for e in errors}
  assert got == {name: reason for name, reason in EXPECTED.items() if reason}
  assert all(e["detail"] for e in errors)
  metadata = schema.read_metadata(str(built["two"]))
  assert metadata["num_inputs"] == len(EXPECTED)
  assert metadata["num_failed"] == len(got)
  assert metadata["failures_by_reason"] == {r: 1 for r in got.values()}


def test_every_good_input_is_written(built):
  records = _all_records(built["two"])
  by_source: dict = {}
  for r in records:
    by_source.setdefault(r["source_id"], []).append(r)
  good = sorted(name for name, reason in EXPECTED.items() if reason is None)
  assert sorted(by_source) == good
  assert len(by_source["crying/long.mp4"]) >= 2
  assert [bool(r["padded"]) for r in by_source["crying/short_pad.wav"]] == [True]
  assert not by_source["not_crying/audio_only.mp4"][0]["has_video"]
  assert by_source["not_crying/audio_only.mp4"][0]["has_audio"]
  assert not by_source["not_crying/silent_video.avi"][0]["has_audio"]
  assert by_source["not_crying/silent_video.avi"][0]["has_video"]
  for r in records:
    assert r["clip_id"] == f"{r['source_id']}@{int(round(float(r['start_s']) * 1000))}"
    assert schema.LABELS[int(r["label"])] == r["source_id"].split("/")[0]
  metadata = schema.read_metadata(str(built["two"]))
  assert metadata["num_records"] == len(records)
  assert metadata["short_inputs"]["padded"] >= 1
  for split, info in metadata["splits"].items():
    assert info["num_examples"] == sum(info["shard_lengths"]) == len(_records(built["two"], split))
    assert sum(info["labels"].values()) == info["num_examples"]


def test_splits_are_grouped_sorted_and_non_empty(built):
  from babycry_jax.data import tfrecord_codec
  from tensorflow_datasets.core import example_parser
  parser = example_parser.ExampleParserNp(schema.features_dict(SPEC).get_serialized_info())
  metadata = schema.read_metadata(str(built["two"]))
  seen_split = {}
  for split in ("train", "validation", "test"):
    records = _records(built["two"], split)
    assert records, f"{split} is empty"
    for r in records:
      assert seen_split.setdefault(r["source_id"], split) == split
    for shard in metadata["splits"][split]["shards"]:
      ids = [parser.parse_example(data)["clip_id"] for data in tfrecord_codec.read_records(str(built["two"] / shard))]
      assert ids == sorted(ids), shard


def test_each_record_sits_in_the_shard_its_clip_id_hashes_to(built):
  from preprocess import sharding
  metadata = schema.read_metadata(str(built["two"]))
  for split, info in metadata["splits"].items():
    assert len(info["shards"]) == 2
    for index, shard in enumerate(info["shards"]):
      assert shard == schema.shard_name(split, index, 2)
    placed = [sharding.shard_of(r["clip_id"], 2) for r in _records(built["two"], split)]
    assert placed == sorted(placed)   # shard 0's records come first, then shard 1's


@pytest.mark.parametrize("other", ["one", "portable"])
def test_every_runner_gives_identical_files(built, other):
  names = sorted(os.listdir(built["two"]))
  assert names == sorted(os.listdir(built[other]))
  assert any(n.endswith("-00001-of-00002.index") for n in names)
  for name in names:   # shards, indexes, errors.jsonl, metadata.json with its statistics
    assert (built["two"] / name).read_bytes() == (built[other] / name).read_bytes(), name


def test_portable_path_ran_in_processes_of_its_own_and_stopped(built):
  log = built["cluster_log"].read_text()
  assert "input 1 of 14" in log   # the workers' progress lines are the pool's, not the launcher's
  for pid in built["cluster_pids"]:
    assert pid != os.getpid()
    with pytest.raises(ProcessLookupError):
      os.kill(pid, 0)


def test_index_files_point_at_records(built):
  metadata = schema.read_metadata(str(built["two"]))
  shard = metadata["splits"]["train"]["shards"][0]
  lines = (built["two"] / schema.index_path(shard)).read_text().split("\n")
  entries = [tuple(map(int, line.split())) for line in lines if line.strip()]
  assert len(entries) == metadata["splits"]["train"]["shard_lengths"][0]
  data = (built["two"] / shard).read_bytes()
  assert entries[0][0] == 0 and sum(length for _, length in entries) == len(data)


def test_record_round_trip_matches_features(built):
  from babycry_jax.data import features, media_windows
  record = next(r for r in _all_records(built["two"]) if r["source_id"] == "crying/long.mp4"
                and float(r["start_s"]) == 0.0)
  window = next(media_windows.iter_windows(str(built["root"] / "crying/long.mp4"), SPEC, hop_s=SPEC.hop_s))
  expected = features.window_features(window, SPEC)
  np.testing.assert_array_equal(record["audio/log_mel"], np.asarray(expected["audio/log_mel"], np.float16))
  np.testing.assert_allclose(record["audio/mfcc_stats"], expected["audio/mfcc_stats"], rtol=1e-6)
  np.testing.assert_array_equal(record["video/frames"], expected["video/frames"])
  assert record["audio/log_mel"].shape == (SPEC.mel_frames, SPEC.n_mels)
  assert record["video/frames"].shape == (SPEC.num_frames, SPEC.frame_size, SPEC.frame_size, SPEC.channels)


def test_stats_come_from_train_only(built):
  metadata = schema.read_metadata(str(built["two"]))
  train = [r for r in _records(built["two"], "train") if r["has_audio"]]
  mel = np.concatenate([np.asarray(r["audio/log_mel"], np.float64).ravel() for r in train])
  assert metadata["stats"]["audio/log_mel"]["mean"] == pytest.approx(mel.mean(), rel=1e-9)
  assert metadata["stats"]["audio/log_mel"]["std"] == pytest.approx(mel.std(), rel=1e-6)
  mfcc = np.stack([r["audio/mfcc_stats"] for r in train]).astype(np.float64)
  np.testing.assert_allclose(metadata["stats"]["audio/mfcc_stats"]["mean"], mfcc.mean(0), rtol=1e-6, atol=1e-9)
  assert len(metadata["stats"]["audio/mfcc_stats"]["std"]) == SPEC.mfcc_stats_dim
  frames = np.concatenate([np.asarray(r["video/frames"], np.float64).ravel()
                           for r in _records(built["two"], "train") if r["has_video"]])
  assert metadata["stats"]["video/frames"]["mean"] == pytest.approx(frames.mean(), rel=1e-9)
  everything = [r for r in _all_records(built["two"]) if r["has_audio"]]
  all_mean = np.mean([np.asarray(r["audio/log_mel"], np.float64).mean() for r in everything])
  assert metadata["stats"]["audio/log_mel"]["mean"] != pytest.approx(all_mean, rel=1e-9)


def test_metadata_structure_and_tfds_info(built):
  import tensorflow_datasets as tfds
  metadata = schema.read_metadata(str(built["two"]))
  assert set(metadata) == {"record_format", "feature_spec", "splits", "stats", "split_fractions",
                           "seed", "inputs", "num_inputs", "num_records", "num_failed",
                           "failures_by_reason", "short_inputs"}
  assert metadata["record_format"] == schema.RECORD_FORMAT
  assert schema.FeatureSpec.from_json(metadata["feature_spec"]) == SPEC
  builder = tfds.builder_from_directory(str(built["two"]))
  for split, info in metadata["splits"].items():
    assert builder.info.splits[split].num_examples == info["num_examples"]
    assert builder.info.splits[split].num_shards == len(info["shards"])
  assert set(builder.info.features.keys()) == set(schema.features_dict(SPEC).keys())
  assert not [p for p in os.listdir(built["two"].parent) if "incomplete" in p]


def test_existing_output_is_refused(built):
  with pytest.raises(FileExistsError, match="--overwrite"):
    pipeline.build_dataset(str(built["root"]), str(built["two"]), SPEC)


def test_too_many_failures_leave_no_dataset(tmp_path):
  root = tmp_path / "in"
  write_media(root / "crying/ok.wav", 2.0, video=False)
  (root / "crying/empty.wav").parent.mkdir(parents=True, exist_ok=True)
  (root / "crying/empty.wav").write_bytes(b"")
  (root / "not_crying").mkdir()
  (root / "not_crying/junk.mp4").write_text("not a video")
  out = tmp_path / "dataset"
  proc = subprocess.run(
      [sys.executable, "-m", "preprocess", f"--input={root}", f"--output={out}",
       "--direct_num_workers=1", "--window_s=2"],
      cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
  assert proc.returncode == 1, proc.stderr[-2000:]
  assert "max_failure_fraction" in proc.stderr and "no dataset written" in proc.stderr
  assert not out.exists()
  assert os.listdir(tmp_path) == ["in"]   # no temporary sibling left behind


def test_manifest_intervals_label_each_window(built, tmp_path):
  manifest = tmp_path / "manifest.csv"
  long_path = built["root"] / "crying/long.mp4"
  manifest.write_text("path,label,start_s,end_s\n"
                      f"{long_path},not_crying,0,2\n"
                      f"{long_path},crying,2.5,5\n")
  out = tmp_path / "ds"
  pipeline.build_dataset(str(manifest), str(out), SPEC, split_fractions=(1.0, 0.0, 0.0),
                         direct_num_workers=1, log=lambda s: None)
  records = _records(out, "train")
  got = [(round(float(r["start_s"]), 3), schema.LABELS[int(r["label"])], bool(r["padded"])) for r in records]
  assert got == [(0.0, "not_crying", False), (2.5, "crying", False)]
  assert metadata_splits_total(out) == 2


def metadata_splits_total(dataset_dir) -> int:
  metadata = schema.read_metadata(str(dataset_dir))
  return sum(s["num_examples"] for s in metadata["splits"].values())


def test_trimmed_audioset_media_shift():
  from preprocess import sources
  item = sources.SourceItem(path="x.mp4", source_id="x.mp4", label="crying", group="youtube:x",
                            intervals=(sources.Interval(30.0, 40.0, "crying"),), trimmed_ok=True)
  assert decode_source.interval_shift_s(item, media_duration_s=10.0) == 30.0   # only the segment was saved
  assert decode_source.interval_shift_s(item, media_duration_s=60.0) == 0.0    # the whole video was saved
