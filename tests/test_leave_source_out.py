"""Leave-one-source-out datasets: the held-out group never reaches training, its windows are
all in test, mixtures in its recordings go nowhere, and the train stats are its own."""
import json

import numpy as np
import pytest

import synthetic_dataset
from babycry_jax import input_pipeline, metrics, source_report
from preprocess import leave_source_out


def _source_of(source_id):
  """src<i>: every 3rd source is 'music', every 5th a cry mixed into music, the rest 'other'."""
  i = int(source_id[3:])
  if i % 3 == 0:
    return "music", "librosa_misc"
  if i % 5 == 0:
    return "cry_mixture", "mix/music"
  return "other", "esc50/x"


def _source_ids(dataset_dir, split):
  data = input_pipeline.Split(dataset_dir, split, 1, 1)
  return [data.example(i)["source_id"].decode() for i in range(len(data))]


def test_the_held_out_group_is_only_in_test(tmp_path):
  original = synthetic_dataset.write(str(tmp_path / "ds"))
  out = str(tmp_path / "loso")
  counts = leave_source_out.write_held_out_dataset(original, out, "music", _source_of)
  before = {s: _source_ids(original, s) for s in ("train", "validation", "test")}
  after = {s: _source_ids(out, s) for s in ("train", "validation", "test")}
  music = {s for ids in before.values() for s in ids if _source_of(s)[0] == "music"}
  mixed = {s for ids in before.values() for s in ids if _source_of(s)[1] == "mix/music"}
  for split in ("train", "validation"):
    assert set(after[split]) == set(before[split]) - music - mixed
  assert set(after["test"]) == (set(before["test"]) - mixed) | music
  assert counts["held_out_windows"] == len(music)
  metadata = json.loads((tmp_path / "loso" / "metadata.json").read_text())
  assert metadata["held_out"]["source_group"] == "music"
  assert metadata["splits"]["train"]["num_examples"] == len(after["train"])
  # Train stats recomputed over what is left (the synthetic ones were made up: 0.5, 1.2).
  train = input_pipeline.Split(out, "train", 1, 1)
  mels = np.stack([train.example(i)["audio/log_mel"] for i in range(len(train))])
  assert metadata["stats"]["audio/log_mel"]["mean"] == pytest.approx(mels.astype(np.float64).mean())
  assert metadata["stats"]["audio/log_mel"]["std"] == pytest.approx(mels.astype(np.float64).std())
  with pytest.raises(FileExistsError):
    leave_source_out.write_held_out_dataset(original, out, "music", _source_of)
  with pytest.raises(ValueError, match="no window"):
    leave_source_out.write_held_out_dataset(original, str(tmp_path / "x"), "animals", _source_of)


def test_threshold_at_recall_and_false_alarms_by_group():
  labels = np.array([1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0])
  scores = np.array([.95, .9, .85, .8, .7, .6, .5, .4, .3, .1, .35, .2, .9])
  threshold = metrics.threshold_at_recall(labels, scores, 0.9)
  assert threshold == 0.3 and (scores[labels == 1] >= threshold).mean() == 0.9
  assert metrics.threshold_at_recall(labels, scores, 1.0) == 0.1
  report = source_report.false_alarms_by_group(["cry"] * 10 + ["music", "music", "cats"],
                                               labels, scores, threshold)
  assert report == {"cats": {"windows": 1, "flagged": 1, "false_alarm_rate": 1.0},
                    "music": {"windows": 2, "flagged": 1, "false_alarm_rate": 0.5}}
  with pytest.raises(ValueError, match="recall"):
    metrics.threshold_at_recall(labels, scores, 0.0)


def test_a_heard_share_of_each_category_is_not_held_out():
  sources = {f"{cat}/{i}.wav": {"source_group": group, "category": cat}
             for group, cat, n in (("animals", "cat", 8), ("animals", "frog", 5), ("music", "piano", 4))
             for i in range(n)}
  heard = leave_source_out.with_heard_share(sources, "animals", 0.5)
  moved = {p for p in sources if heard[p]["source_group"] == "animals_heard"}
  assert sum(p.startswith("cat/") for p in moved) == 4 and sum(p.startswith("frog/") for p in moved) == 3
  assert all(heard[p] == sources[p] for p in sources if p not in moved)   # the rest as it was
  assert all(heard[p]["category"] == sources[p]["category"] for p in moved)
  assert all(s["source_group"] != "animals_heard" for s in sources.values())   # input untouched
  quarter = leave_source_out.with_heard_share(sources, "animals", 0.25)
  heard_quarter = {p for p in sources if quarter[p]["source_group"] == "animals_heard"}
  assert len(heard_quarter) == 2 + 1 and heard_quarter < moved   # 1.25 of 5 frogs: 1; 2.5: 3
  assert leave_source_out.with_heard_share(sources, "animals", 0.0) == sources
