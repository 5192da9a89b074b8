"""Dataset inspection, on a dataset made by the job's own pieces without a Beam runner."""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from tensorflow_datasets.core import example_serializer

from babycry_jax.data import schema
from preprocess import dataset_metadata, error_report, feature_stats, record_fragments, shard_writer, sharding
from preprocess import inspect_dataset as dataset_inspect

SPEC = schema.preset("paper", window_s=1.0, hop_s=1.0, num_frames=3, frame_size=16, n_mels=16)
SPLITS = ("train", "validation", "test")


def _example(i: int, label: str, has_video: bool) -> dict:
  rng = np.random.default_rng(i)
  return {
      "clip_id": f"clip{i:02d}@0", "source_id": f"clip{i:02d}", "label": label,
      "start_s": 0.0, "duration_s": 1.0, "padded": False,
      "audio/log_mel": rng.normal(-20 + i, 5, (SPEC.mel_frames, SPEC.n_mels)).astype(np.float16),
      "audio/mfcc_stats": rng.normal(i, 1, SPEC.mfcc_stats_dim).astype(np.float32),
      "audio/yamnet_log_mel": rng.normal(-4, 1, schema.yamnet_log_mel_shape(SPEC)).astype(np.float16),
      "video/frames": rng.integers(0, 255, (SPEC.num_frames, SPEC.frame_size, SPEC.frame_size, 1), dtype=np.uint8)
                      if has_video else np.zeros((SPEC.num_frames, SPEC.frame_size, SPEC.frame_size, 1), np.uint8),
      "has_audio": True, "has_video": has_video,
  }


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
  out = tmp_path_factory.mktemp("dataset")
  features = schema.features_dict(SPEC)
  serializer = example_serializer.ExampleSerializer(features.get_serialized_info())
  stats_fn = feature_stats.FeatureStatsFn(SPEC.mfcc_stats_dim)
  stats = stats_fn.create_accumulator()
  examples, fragments = [], record_fragments.WriteFragments(str(out))
  fragments.start_bundle()
  refs = {(split, index): [] for split in SPLITS for index in range(2)}
  # Given in a scrambled order: each shard must come out sorted by clip id.
  for i in [5, 0, 7, 2, 9, 1, 8, 3, 6, 4]:
    split = "train" if i < 6 else ("validation" if i < 8 else "test")
    ex = _example(i, "crying" if i % 2 else "not_crying", has_video=i != 3)
    examples.append((split, ex))
    body = serializer.get_tf_example(features.encode_example(ex)).SerializeToString(deterministic=True)
    key = (split, sharding.shard_of(ex["clip_id"], 2))
    for written_key, ref in fragments.process((key, (ex["clip_id"], ex["label"], body))):
      refs[written_key].append(ref)
    if split == "train":
      stats = stats_fn.add_input(stats, feature_stats.record_stats(ex))
  for written in fragments.finish_bundle():
    refs[written.value[0]].append(written.value[1])
  writer = shard_writer.WriteShard(str(out), {split: 2 for split in SPLITS})
  shards = [summary for keyed in refs.items() for summary in writer.process(keyed)]
  shutil.rmtree(out / record_fragments.FRAGMENTS_DIR)
  errors = [error_report.entry(error_report.FAILED, "/x/b.mp4", "not_media", "text"),
            error_report.entry(error_report.FAILED, "/x/a.mp4", "empty_file", "0 bytes")]
  (out / schema.ERRORS_FILE).write_text(error_report.report_text(errors))
  metadata = dataset_metadata.write(
      str(out), SPEC, dataset_metadata.split_summaries(shards, SPLITS), stats_fn.extract_output(stats),
      extra={"seed": 0, "inputs": ["/x"], "num_inputs": 12, "num_failed": 2,
             "failures_by_reason": {"empty_file": 1, "not_media": 1},
             "split_fractions": {"train": 0.6, "validation": 0.2, "test": 0.2},
             "short_inputs": {"padded": 0, "skipped": 0}})
  return out, examples, metadata


def test_shards_are_sorted_and_counted(dataset):
  out, examples, metadata = dataset
  train = metadata["splits"]["train"]
  assert train["num_examples"] == sum(train["shard_lengths"]) == 6
  assert train["labels"] == {"not_crying": 3, "crying": 3}
  ids = [ex["clip_id"] for ex in dataset_inspect.iter_examples(str(out), "train")]
  assert sorted(ids) == [f"clip{i:02d}@0" for i in range(6)]
  first = train["shard_lengths"][0]
  assert ids[:first] == sorted(ids[:first]) and ids[first:] == sorted(ids[first:])
  assert metadata["splits"]["test"]["shards"] == [schema.shard_name("test", 0, 2), schema.shard_name("test", 1, 2)]
  lines = (out / schema.ERRORS_FILE).read_text().splitlines()
  assert [json.loads(l)["path"] for l in lines] == ["/x/a.mp4", "/x/b.mp4"]


def test_parsed_records_equal_written_ones(dataset):
  out, examples, _ = dataset
  written = {ex["clip_id"]: ex for _, ex in examples}
  for split in ("train", "validation", "test"):
    for ex in dataset_inspect.iter_examples(str(out), split):
      source = written[ex["clip_id"]]
      np.testing.assert_array_equal(ex["audio/log_mel"], source["audio/log_mel"])
      np.testing.assert_array_equal(ex["video/frames"], source["video/frames"])
      np.testing.assert_array_equal(ex["audio/mfcc_stats"], source["audio/mfcc_stats"])
      assert bool(ex["has_video"]) == source["has_video"]


def test_stats_use_train_records_and_present_tracks(dataset):
  _, examples, metadata = dataset
  train = [ex for split, ex in examples if split == "train"]
  mel = np.concatenate([ex["audio/log_mel"].astype(np.float64).ravel() for ex in train])
  assert metadata["stats"]["audio/log_mel"]["mean"] == pytest.approx(mel.mean(), rel=1e-12)
  assert metadata["stats"]["audio/log_mel"]["std"] == pytest.approx(mel.std(), rel=1e-9)
  frames = np.concatenate([ex["video/frames"].astype(np.float64).ravel() for ex in train if ex["has_video"]])
  assert metadata["stats"]["video/frames"]["mean"] == pytest.approx(frames.mean(), rel=1e-12)
  mfcc = np.stack([ex["audio/mfcc_stats"].astype(np.float64) for ex in train])
  np.testing.assert_allclose(metadata["stats"]["audio/mfcc_stats"]["std"], mfcc.std(0), rtol=1e-6)


def test_summary_report_and_sheet(dataset, tmp_path):
  out, _, _ = dataset
  summary = dataset_inspect.summarize(str(out))
  assert list(summary["splits"]) == ["train", "validation", "test"]
  assert summary["shapes"]["audio/log_mel"] == ([SPEC.mel_frames, SPEC.n_mels], "float16")
  assert summary["errors_by_reason"] == {"not_media": 1, "empty_file": 1}
  report = dataset_inspect.format_report(summary)
  assert "validation" in report and "not_media" in report and "[3, 16, 16, 1]" in report
  png = tmp_path / "sheet.png"
  assert dataset_inspect.write_sheet(str(out), str(png), per_label=2) == 4
  assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_and_missing_dataset(dataset, tmp_path):
  out, _, _ = dataset
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  proc = subprocess.run([sys.executable, "-m", "preprocess.inspect_dataset", str(out)], cwd=root,
                        capture_output=True, text=True, timeout=120)
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert "train" in proc.stdout and "errors: 2" in proc.stdout
  proc = subprocess.run([sys.executable, "-m", "preprocess.inspect_dataset", str(tmp_path / "nothing")],
                        cwd=root, capture_output=True, text=True, timeout=120)
  assert proc.returncode == 1 and "is not a babycry dataset" in proc.stderr, proc.stderr[-2000:]
