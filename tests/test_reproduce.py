"""The reproduction report on tiny runs, and the real-audio recipe's manifest."""
import csv
import json
import os
import pathlib
import statistics
import subprocess
import sys
import wave

import ml_collections
import numpy as np
import pytest

from benchmarks import job_run, loso_table, report_jobs, report_runner, report_table, run_metrics
from preprocess import real_audio as recipe
from preprocess import sources
import synthetic_dataset
from conftest import REPO_ROOT

TINY_CONFIG = "tests/tiny_config.py"


# ---------------------------------------------------------------- the report

@pytest.fixture(scope="module")
def report(tmp_path_factory):
  root = tmp_path_factory.mktemp("report")
  dataset = synthetic_dataset.write(str(root / "dataset"))
  base = (("dataset_dir", dataset), ("num_epochs", 1))
  jobs = [
      report_jobs.Job("tiny_cnn", "Tiny CNN", TINY_CONFIG, report_jobs.EMBEDDED, base, None),
      report_jobs.Job("tiny_svm", "Tiny SVM", TINY_CONFIG, report_jobs.EMBEDDED,
                      base + (("model", "svm"), ("loss", "hinge"),
                              ("model_kwargs", ml_collections.ConfigDict())), "0.845"),
      report_jobs.Job("broken", "Broken", TINY_CONFIG, report_jobs.EMBEDDED,
                      base + (("model", "no_such_model"),), None),
  ]
  lines = []
  results = report_runner.reproduce(jobs, str(root / "runs"), str(root / "out"),
                                    {report_jobs.EMBEDDED: dataset}, "test", log=lines.append)
  return {"root": root, "jobs": jobs, "results": results, "log": lines}


def _rows(report):
  return {r["name"]: r for r in report["results"]["tables"][report_jobs.EMBEDDED]["rows"]}


def test_report_rows_hold_the_evaluation_of_the_best_checkpoint(report):
  rows = _rows(report)
  for name in ("tiny_cnn", "tiny_svm"):
    row = rows[name]
    assert row["status"] == "ok", row["status"]
    workdir = report["root"] / "runs" / report_jobs.EMBEDDED / name
    with open(workdir / "eval" / "test" / "metrics.json") as f:
      evaluated = json.load(f)
    assert row["test"]["f1"] == pytest.approx(evaluated["f1"])
    assert row["test"]["num_examples"] == 24
    assert row["checkpoint_step"] == evaluated["checkpoint_step"]
    assert row["params"] > 0 and row["flops_per_example"] > 0
    # One epoch: one validation point, at epoch 1.
    assert [e for e, _ in row["val_curve"]] == [1.0]
    rates = [r["examples_per_s"] for r in run_metrics.read_metrics(str(workdir)) if r["kind"] == "train"]
    assert row["train_examples_per_s"] == pytest.approx(statistics.median(rates))
  assert rows["tiny_svm"]["params"] == 79   # 78 MFCC stats + bias
  assert rows["tiny_cnn"]["modalities"] == ["audio"]


def test_report_marks_a_broken_model_failed_and_keeps_the_others(report):
  broken = _rows(report)["broken"]
  assert broken["status"].startswith("failed in config: ValueError: unknown model 'no_such_model'")
  assert any("broken: FAILED" in line for line in report["log"])


def test_report_files_table_json_and_png(report):
  out = report["root"] / "out"
  table = (out / "table.md").read_text()
  rows = _rows(report)
  cnn_line = next(line for line in table.splitlines() if line.startswith("| Tiny CNN |"))
  cells = [c.strip() for c in cnn_line.strip("|").split("|")]
  assert len(cells) == len(report_table.TABLE_HEADER.strip("|").split("|"))
  assert cells[1] == "audio"
  assert cells[2] == f"{rows['tiny_cnn']['test']['f1']:.3f}"
  assert cells[-2] == "1 (1)" and cells[-1] == "—"
  svm_line = next(line for line in table.splitlines() if line.startswith("| Tiny SVM |"))
  assert svm_line.rstrip().endswith("| 0.845 |")
  assert "**failed in config" in next(l for l in table.splitlines() if l.startswith("| Broken |"))
  assert "train 64 (32 crying), validation 24 (12 crying), test 24 (12 crying)" in table

  saved = json.loads((out / "results.json").read_text())
  saved_rows = saved["tables"][report_jobs.EMBEDDED]["rows"]
  assert [r["name"] for r in saved_rows] == ["tiny_cnn", "tiny_svm", "broken"]
  assert all("traceback" not in r for r in saved_rows)

  png = (out / "f1_vs_epoch.png").read_bytes()
  assert png[:8] == b"\x89PNG\r\n\x1a\n"
  import matplotlib.image
  image = matplotlib.image.imread(str(out / "f1_vs_epoch.png"))
  assert image.shape[0] > 200 and image.shape[1] > 200
  assert not [p for p in os.listdir(out) if ".tmp" in p]


def test_report_does_not_retrain_a_finished_run(report):
  job = report["jobs"][0]
  workdir = report["root"] / "runs" / report_jobs.EMBEDDED / job.name
  metrics_before = (workdir / "metrics.jsonl").read_text()
  lines = []
  row = job_run.run_job(job, str(workdir), lines.append)
  assert row["status"] == "ok" and row["trained_now"] is False
  assert (workdir / "metrics.jsonl").read_text() == metrics_before
  assert row["test"]["f1"] == pytest.approx(_rows(report)["tiny_cnn"]["test"]["f1"])


def test_study_jobs_cover_every_registered_model_and_the_study_numbers():
  from babycry_jax import models
  jobs = report_jobs.study_jobs("data/x", epochs=3)
  assert sorted(j.name for j in jobs) == models.names()
  by_name = {j.name: j for j in jobs}
  assert by_name["fusion_cnn_3dcnn_lstm"].study_val_f1 == "0.905"
  assert by_name["cnn2"].study_val_f1 is None
  assert dict(by_name["svm"].overrides)["num_epochs"] == 3
  with pytest.raises(ValueError, match="unknown model"):
    report_jobs.study_jobs("data/x", ["cnn7"])


def test_table_formats_fusion_columns_and_failures():
  row = {"label": "CNN+CNN+FC", "modalities": ["audio", "video"], "status": "ok",
         "test": {"f1": 0.91234, "precision": 0.9, "recall": 0.92, "accuracy": 0.93, "roc_auc": 0.97},
         "test_f1_audio_only": 0.8, "test_f1_video_only": 0.55, "params": 3639572,
         "flops_per_example": 473.3e6, "train_examples_per_s": 41.26, "num_epochs": 20,
         "best_epoch": 17.0, "study_val_f1": "0.87"}
  line = report_table.table_rows([row])[2]
  assert line == ("| CNN+CNN+FC | audio+video | 0.912 | 0.900 | 0.920 | 0.930 | 0.970 | 0.800 | "
                  "0.550 | 3,639,572 | 473M | 41.3 | 20 (17) | 0.87 |")


# ---------------------------------------------------------------- the real-audio recipe

UUID_A = "643D64AD-B711-469A-AF69-55C0D5D3E30F"
UUID_B = "549a46d8-9c84-430e-ade8-97eae2bef787"


def _wav(path: pathlib.Path, seconds: float, rate: int = 8000, seed: int = 0) -> None:
  path.parent.mkdir(parents=True, exist_ok=True)
  samples = (np.random.default_rng(seed).normal(0, 3000, int(seconds * rate))).astype(np.int16)
  with wave.open(str(path), "wb") as w:
    w.setnchannels(1)
    w.setsampwidth(2)
    w.setframerate(rate)
    w.writeframes(samples.tobytes())


@pytest.fixture
def fake_shared(tmp_path):
  real = tmp_path / "shared" / "real_audio"
  cry = real / "donateacry_cry"
  for k in range(4):
    _wav(cry / "hungry" / f"{UUID_A}-14301384{k}-1.0-m-72-hu.wav", 6.9, seed=k)
  _wav(cry / "tired" / f"{UUID_B}-1430130772174-1.7-m-48-ti.wav", 7.0, seed=10)
  _wav(cry / "tired" / f"{UUID_B.upper()}-1430130772999-1.7-m-48-ti.wav", 7.0, seed=11)
  for speaker in ("alice", "bob"):
    for k in range(12):
      _wav(real / "fsdd_speech" / f"{k % 10}_{speaker}_{k}.wav", 0.6, seed=100 + k)
  _wav(real / "household_speech" / "long.wav", 9.0, rate=16000, seed=20)
  _wav(real / "librosa_misc" / "tune.wav", 4.5, seed=21)
  (real / "librosa_misc" / "tune_copy.wav").write_bytes((real / "librosa_misc" / "tune.wav").read_bytes())
  (real / "librosa_misc" / "tune.txt").write_text("not media")
  return tmp_path / "shared"


def test_recipe_manifest_labels_groups_and_balance(fake_shared, tmp_path):
  made = recipe.prepare_media(fake_shared, tmp_path / "media", log=lambda _: None)
  rows = {r.path: r for r in made.rows}
  cries = [r for r in made.rows if r.label == "crying"]
  assert len(cries) == 6
  assert {r.group for r in cries} == {f"device:{UUID_A.lower()}", f"device:{UUID_B.lower()}"}
  assert all(r.intervals == ((0.0, 4.0),) for r in cries)   # the first window only, never padded

  assert rows["real_audio/household_speech/long.wav"].intervals == ((0, 4), (4, 8), (8, 9))
  assert rows["real_audio/household_speech/long.wav"].label == "not_crying"
  assert rows["real_audio/librosa_misc/tune.wav"].intervals == ((0, 4),)
  assert "real_audio/librosa_misc/tune_copy.wav" not in rows
  assert made.summary["dropped_duplicates"] == [
      {"path": "librosa_misc/tune_copy.wav", "same_content_as": "librosa_misc/tune.wav"}]

  # 6 crying windows against 4 others: two FSDD files, one per speaker.
  fsdd = [r for r in made.rows if r.path.startswith("fsdd_concat/")]
  assert sorted(r.group for r in fsdd) == ["speaker:alice", "speaker:bob"]
  assert made.summary["by_label"]["crying"]["windows"] == 6
  assert made.summary["by_label"]["not_crying"]["windows"] == 6
  for row in fsdd:
    with wave.open(str(tmp_path / "media" / row.path)) as w:
      assert w.getnframes() == 4 * 8000 and w.getframerate() == 8000
  with open(tmp_path / "media" / "fsdd_concat" / "sources.csv") as f:
    for line in csv.DictReader(f):
      assert all(f"_{line['speaker']}_" in clip for clip in line["clips"].split())
      assert len(line["clips"].split()) == 5   # 5 x 0.6 s + 4 x 0.25 s gaps = 4 s

  # The pipeline reads the manifest with the same groups and one interval per window.
  items = {i.source_id: i for i in sources.from_manifest(pathlib.Path(made.manifest_path))}
  assert len(items) == len(made.rows)
  long_item = items["real_audio/household_speech/long.wav"]
  assert [(i.start_s, i.end_s) for i in long_item.intervals] == [(0, 4), (4, 8), (8, 9)]
  assert items[cries[0].path].group == cries[0].group
  assert os.path.realpath(items[cries[0].path].path) == os.path.realpath(
      fake_shared / "real_audio" / cries[0].path.removeprefix("real_audio/"))


def test_recipe_reuses_a_finished_media_dir_and_refuses_other_parameters(fake_shared, tmp_path):
  media = tmp_path / "media"
  recipe.prepare_media(fake_shared, media, log=lambda _: None)
  stamp = (media / "manifest.csv").stat().st_mtime_ns
  again = recipe.prepare_media(fake_shared, media, log=lambda _: None)
  assert (media / "manifest.csv").stat().st_mtime_ns == stamp
  assert len(again.rows) == 6 + 2 + 2
  with pytest.raises(FileExistsError, match="--overwrite"):
    recipe.prepare_media(fake_shared, media, fsdd_windows=1, log=lambda _: None)
  replaced = recipe.prepare_media(fake_shared, media, fsdd_windows=1, overwrite=True,
                                  log=lambda _: None)
  assert len([r for r in replaced.rows if r.path.startswith("fsdd_concat/")]) == 1


def test_recipe_rejects_a_cry_file_without_app_instance_and_leaves_nothing(fake_shared, tmp_path):
  _wav(fake_shared / "real_audio" / "donateacry_cry" / "hungry" / "recording.wav", 7.0)
  with pytest.raises(recipe.RecipeError, match="recording.wav: a Donate-a-cry file name"):
    recipe.prepare_media(fake_shared, tmp_path / "media", log=lambda _: None)
  assert os.listdir(tmp_path) == ["shared"]
  proc = subprocess.run([sys.executable, "-m", "preprocess.real_audio_recipe", "--shared",
                         str(tmp_path / "nowhere"), "--output", str(tmp_path / "ds"), "--manifest_only"],
                        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
  assert proc.returncode == 1 and "nowhere" in proc.stderr, proc.stderr[-2000:]


def test_real_audio_config_describes_how_to_build_its_dataset(tmp_path):
  from configs import real_audio
  absent = str(tmp_path / "absent")
  config = real_audio.get_config(absent)  # a config only describes: no check of the path
  assert config.dataset_dir == absent
  assert config.dataset_command.startswith("python -m preprocess.real_audio_recipe")
  assert config.dataset_command.endswith(f"--output {absent}")


def test_recipe_over_the_real_corpora_counts_per_label(shared_data, tmp_path):
  made = recipe.prepare_media(shared_data, tmp_path / "media", log=lambda _: None)
  summary = made.summary
  assert summary["by_label"]["crying"] == {"files": 457, "groups": 221, "windows": 457}
  # Balanced: FSDD fills the negatives up to the cries, spread over its 6 speakers.
  assert summary["by_label"]["not_crying"]["windows"] == 457
  folders = summary["files_by_folder"]
  assert folders["donateacry_cry"] == 457
  assert folders["household_speech"] == 11
  assert folders["librosa_misc"] == 14   # 15 files, one song twice under two names
  fsdd_groups = {r.group for r in made.rows if r.path.startswith("fsdd_concat/")}
  assert fsdd_groups == {f"speaker:{s}" for s in
                         ("george", "jackson", "lucas", "nicolas", "theo", "yweweler")}
  assert 1000 < summary["fsdd_clips_used"] < 3000
  assert {r.label for r in made.rows if "donateacry_cry" in r.path} == {"crying"}


def test_report_stops_when_a_training_ends_early(tmp_path, monkeypatch):
  from babycry_jax import trainer
  dataset = synthetic_dataset.write(str(tmp_path / "dataset"))
  job = report_jobs.Job("tiny_cnn", "Tiny CNN", TINY_CONFIG, report_jobs.EMBEDDED,
                        (("dataset_dir", dataset), ("num_epochs", 1)))
  # A preempted trainer returns before its last step, as this stand-in does.
  monkeypatch.setattr(trainer, "train_and_evaluate", lambda config, workdir: {})
  results = report_runner.reproduce([job, job], str(tmp_path / "runs"), str(tmp_path / "out"),
                                    {report_jobs.EMBEDDED: dataset}, "test", log=lambda _: None)
  assert "stopped early" in results["interrupted"]
  assert results["tables"] == {}
  assert "Interrupted: training of tiny_cnn stopped early" in (tmp_path / "out" / "table.md").read_text()


def test_leave_one_source_out_table_heads_the_report(tmp_path):
  """The benchmark's own command, end to end on tiny runs: held-out data, training, table."""
  from babycry_jax import input_pipeline
  from preprocess import real_world
  dataset = synthetic_dataset.write(str(tmp_path / "ds"))
  media = tmp_path / "ds_media"
  media.mkdir()
  music_windows = 0
  with open(media / real_world.SOURCES_FILE, "w", newline="") as f:
    out = csv.writer(f)
    out.writerow(("path", "source_group", "category", "expected_split"))
    for split in ("train", "validation", "test"):
      data = input_pipeline.Split(dataset, split, 1, 1)
      for i in range(len(data)):
        example = data.example(i)
        n = int(example["source_id"].decode()[3:])
        group = "cry" if example["label"] == 1 else ("music" if n % 4 < 2 else "animals")
        music_windows += group == "music"
        out.writerow((example["source_id"].decode(), group, f"{group}/x", split))
  loso = loso_table.leave_one_source_out(
      dataset, str(tmp_path / "loso"), ["0"], epochs=1, log=lambda _: None,
      extra_flags=[f"--config={TINY_CONFIG}", "--groups=music", f"--media_dir={media}",
                   "--recall=0.8"])
  assert loso["status"] == "ok", loso
  runs = loso["table"]["runs"]
  assert [r["held_out"] for r in runs] == ["none", "music"]
  # Every music window, from every split, is in the held-out run's test split.
  assert runs[1]["false_alarms"]["music"]["windows"] == music_windows > 0
  assert "| music |" in loso["table_md"]
  text = report_table.render_markdown({"generated": "now", "command": "test", "machine": "here",
                                       "tables": {}, "leave_one_source_out": loso})
  assert text.index("never heard in training") < text.index("| music |")
  assert "keeps 80% of the validation cries" in text
  # A finished run of another config is refused, not reported as this one's.
  again = loso_table.leave_one_source_out(
      dataset, str(tmp_path / "loso"), ["0"], epochs=2, log=lambda _: None,
      extra_flags=[f"--config={TINY_CONFIG}", "--groups=music", f"--media_dir={media}"])
  assert again["status"].startswith("failed with exit code 1"), again
  # Half of the group not held out: its own runs, and only the rest counted.
  heard = loso_table.leave_one_source_out(
      dataset, str(tmp_path / "loso"), ["0"], epochs=1, log=lambda _: None,
      extra_flags=[f"--config={TINY_CONFIG}", "--groups=music", f"--media_dir={media}",
                   "--include_all=false", "--heard_share=0.5"])
  assert heard["status"] == "ok", heard
  (run,) = heard["table"]["runs"]
  assert run["heard_share"] == 0.5
  assert 0 < run["false_alarms"]["music"]["windows"] < music_windows
  assert (tmp_path / "loso" / "heard50" / "music" / "seed_0" / "result.json").exists()
  # A share that leaves nothing held out is refused before any run starts.
  done = subprocess.run([sys.executable, "-m", "benchmarks.real_world", f"--dataset={dataset}",
                         f"--workdir={tmp_path / 'loso'}", f"--config={TINY_CONFIG}",
                         "--groups=music", f"--media_dir={media}", "--heard_share=0.99"],
                        cwd=REPO_ROOT, capture_output=True, text=True)
  assert done.returncode == 1
  assert "--heard_share=0.99 leaves no recording of music held out" in done.stderr
  assert not (tmp_path / "loso" / "heard99").exists()
