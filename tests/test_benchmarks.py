"""Smoke tests of the benchmark suite's JAX-side measuring code, at tiny sizes.

Nothing here creates or uses the TensorFlow venv: the Keras and tf.data sides
are only checked up to the specs they would be handed.
"""
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import synthetic_dataset  # noqa: E402

from benchmarks.measurement import measurement  # noqa: E402

from benchmarks import Protocol, time_calls  # noqa: E402
from benchmarks import hardware_efficiency as he  # noqa: E402
from benchmarks import input_pipeline_speed as ips  # noqa: E402
from benchmarks import profile_notes, results_files, results_table, suite_run, suites  # noqa: E402
from benchmarks import tf_env  # noqa: E402
from benchmarks import train_throughput as tt  # noqa: E402

TINY = dict(audio_frames=12, video_frames=6, n_mels=8, frame_size=8)


def test_time_calls_follows_the_protocol():
  calls, finished = [], []
  timing = time_calls(lambda: calls.append(1) or len(calls), finished.append, Protocol(2, 3, 4))
  assert len(calls) == 2 + 3 * 4
  # finish() waits once after the warm-up and once per timed run, on the latest result.
  assert finished == [2, 5, 8, 11, 14]
  assert len(timing["runs_s"]) == 4
  assert timing["seconds_per_call"] == pytest.approx(float(np.median(timing["runs_s"])))


def test_protocol_args_round_trip_to_the_subprocess_flags():
  assert Protocol(1, 2, 3).to_args() == ["--warmup_steps", "1", "--timed_steps", "2",
                                         "--repeats", "3"]


@pytest.mark.parametrize("name", ["audio_cnn", "fusion_cnn_3dcnn_lstm"])
def test_our_step_trains_on_every_device_and_counts_flops(name):
  result, step = tt.measure_ours(tt.family(name), Protocol(1, 1, 1), batch_size=8,
                                 return_step=True, **TINY)
  assert result["local_devices"] == 8  # conftest's simulated devices
  assert result["batch_size"] == 8
  assert result["examples_per_s"] > 0
  assert math.isfinite(result["final_loss"])
  assert step.batch["log_mel"].shape == (8, 1, 12, 8)
  assert step.batch["frames"].shape == (8, 1, 6, 8, 8, 1)
  flops = he.step_flops(step)
  assert flops["flops_per_example"] > 0
  assert flops["source"].startswith("XLA")


def test_family_configs_match_the_study():
  assert tt.load_config(tt.family("fusion_cnn_3dcnn_lstm")).model_kwargs.size == "paper"
  spec = tt.keras_spec(tt.family("3dcnn"))
  assert (spec["model"], spec["batch_size"], spec["optimizer"]) == ("c3d", 20, "rmsprop")
  assert (spec["audio_frames"], spec["video_frames"], spec["frame_size"]) == (300, 18, 64)
  with pytest.raises(ValueError, match="unknown model family"):
    tt.family("resnet")


def test_lstm_flops_use_the_analytic_count():
  # One layer, 2 steps, 3 inputs, 4 units: 3 x (2 steps x 2 x (3 + 4) x 16).
  assert he.lstm_train_flops_per_example(2, 3, (4,)) == 3 * 2 * 2 * 7 * 16
  # Stacked layers feed each other: the second layer's input is the first's units.
  assert he.lstm_train_flops_per_example(1, 3, (4, 5)) == 3 * (2 * 7 * 16 + 2 * 9 * 20)


def test_matmul_rate_is_positive():
  result = he.matmul_flops_per_s(size=64, protocol=Protocol(1, 2, 1))
  assert result["flops_per_s"] > 0 and result["size"] == 64


def test_op_labels_name_fusions_by_their_body():
  hlo = """HloModule m

%fused_computation.1 (p0: f32[4,9,9,2], p1: f32[7,7,2,3]) -> f32[3,3,2,3] {
  %p0 = f32[4,9,9,2]{3,2,1,0} parameter(0)
  %p1 = f32[7,7,2,3]{3,2,1,0} parameter(1)
  ROOT %convolution.1 = f32[3,3,2,3]{3,2,1,0} convolution(%p0, %p1), window={size=9x8}, dim_labels=b01f_01io->b01f
}

ENTRY %main (a: f32[4,9,9,2], b: f32[7,7,2,3]) -> f32[3,3,2,3] {
  %a = f32[4,9,9,2]{3,2,1,0} parameter(0)
  %b = f32[7,7,2,3]{3,2,1,0} parameter(1)
  %add.2 = f32[4,9,9,2]{3,2,1,0} add(%a, %a), metadata={op_name="jit(step)/jvp(Model)/add"}
  ROOT %ynn_fusion.1 = f32[3,3,2,3]{3,2,1,0} fusion(%add.2, %b), kind=kCustom, calls=%fused_computation.1
}
"""
  labels = he._op_labels(hlo)
  assert labels["add.2"] == "f32[4,9,9,2]{3,2,1,0}: jvp(Model)/add"
  assert labels["ynn_fusion.1"].endswith("convolution kernel gradient (window 9x8)")


def test_profile_step_breaks_a_step_into_ops():
  _, step = tt.measure_ours(tt.family("audio_cnn"), Protocol(1, 1, 1), batch_size=8,
                            return_step=True, **TINY)
  profile = he.profile_step(step, num_steps=1)
  assert profile["ops"], "the trace held no compiled ops"
  shares = [op["share"] for op in profile["ops"]]
  assert shares == sorted(shares, reverse=True) and 0 < sum(shares) <= 1.0 + 1e-9
  assert "audio_cnn" in he.describe_profile("audio_cnn", profile)


def test_loader_speed_and_tf_data_spec(tmp_path):
  dataset_dir = synthetic_dataset.write(str(tmp_path / "ds"), sizes={"train": 24, "validation": 4,
                                                                     "test": 4})
  spec = synthetic_dataset.SMALL_SPEC
  result = ips.measure_ours(dataset_dir, Protocol(1, 2, 1), batch_size=8,
                            audio_frames=spec.mel_frames, video_frames=spec.num_frames)
  assert result["records"] == 24 and result["examples_per_s"] > 0
  assert result["batch_shapes"]["log_mel"] == [8, 1, spec.mel_frames, spec.n_mels]
  stages = ips.stage_breakdown(dataset_dir, 4, spec.mel_frames, spec.num_frames)
  assert set(stages) == {"read", "parse", "batch", "normalize"} and all(v > 0 for v in stages.values())
  tf_spec = ips.tf_data_spec(dataset_dir, audio_frames=spec.mel_frames,
                             video_frames=spec.num_frames, batch_size=8)
  assert len(tf_spec["files"]) == 2 and all(os.path.exists(f) for f in tf_spec["files"])
  assert tf_spec["shapes"]["video/frames"] == [spec.num_frames, spec.frame_size,
                                              spec.frame_size, spec.channels]
  assert len(tf_spec["mfcc_mean"]) == spec.mfcc_stats_dim
  json.dumps(tf_spec)  # it travels to the subprocess as JSON
  with pytest.raises(FileNotFoundError, match="no missing shards"):
    ips.tf_data_spec(dataset_dir, split="missing")


def test_tf_env_is_located_outside_the_repo_and_not_created(tmp_path, monkeypatch):
  monkeypatch.setenv(tf_env.VENV_ENV_VAR, str(tmp_path / "venv"))
  assert tf_env.venv_dir() == str(tmp_path / "venv")
  assert not tf_env.is_ready()
  assert not (tmp_path / "venv").exists()


def _machine(date):
  return {"date": date, "cpu_model": "Test CPU", "cpu_count": 2, "load_average_1min": 1.0,
          "jax": "0", "jax_devices": "1 x cpu"}


def test_measurement_goal_logic_and_table(tmp_path):
  hit = measurement("train/x", "w", "examples/s", 30.0, 10.0, "base", 2.0)
  miss = measurement("hw/x", "w", "GFLOP/s", 1.0, 10.0, "matmul", 0.35)
  info = measurement("preprocess/x", "w", "clips/s", 2.0, 4.0, "loop", None)
  assert (hit["ratio"], hit["met"]) == (3.0, True)
  assert (miss["ratio"], miss["met"]) == (0.1, False)
  assert info["met"] is None and info["goal"] is None
  results = {"suite": "train", "machine": _machine("2026-01-02T03:04:05"),
             "command": "python -m benchmarks", "elapsed_s": 60.0, "quick": False,
             "measurements": [hit, miss, info]}
  table = results_table.markdown_table([results])
  assert "Test CPU, 2 cores" in table and "2026-01-02" in table
  assert "| train/x (examples/s) | 30 | 10 base | 3.00x | >= 2x | yes |" in table
  assert "| **no** |" in table
  path = tmp_path / "results.json"
  results_files.write_json(str(path), {"value": np.float32(1.5), "rows": [hit]})
  assert json.loads(path.read_text())["value"] == 1.5
  assert [p.name for p in tmp_path.iterdir()] == ["results.json"]


def test_a_goal_can_be_a_ceiling():
  quick = measurement("listen/delay", "w", "s", 1.5, 2.0, "the goal", 1.0, at_most=True)
  slow = measurement("listen/cpu", "w", "share", 0.3, 0.25, "the goal", 1.0, at_most=True)
  assert (quick["goal"], quick["met"], slow["met"]) == ("<= 1x", True, False)


def test_unknown_benchmark_is_rejected():
  with pytest.raises(ValueError, match="unknown benchmark"):
    suite_run.run_suite(["train", "gpu"], output_dir=None)


def test_a_run_replaces_only_the_files_of_the_benchmarks_it_ran(tmp_path, monkeypatch):
  seen = {}

  def fast(settings, state, log):
    seen.update(settings)
    state.details["fast"] = {"size": settings["fast_size"]}
    return [measurement("fast/x", "w", "x", 1.0, 2.0, "base", 1.0)]

  def broken(settings, state, log):
    raise RuntimeError("no device")

  monkeypatch.setattr(suites, "SUITES", {
      "fast": suites.Suite(fast, full={"fast_size": 100}, quick={"fast_size": 1}),
      "broken": suites.Suite(broken, full={}, quick={}),
      "other": suites.Suite(fast, full={}, quick={})})
  for name in ("fast", "broken", "other"):
    results_files.write(str(tmp_path), {"suite": name, "measurements": ["an earlier run"]})
  before = {name: (tmp_path / f"{name}.json").read_text() for name in ("broken", "other")}
  run = suite_run.run_suite(["broken", "fast"], quick=True, output_dir=str(tmp_path),
                            command="python -m benchmarks --quick", log=lambda _: None)
  assert seen == {"fast_size": 1}
  assert run["errors"] == {"broken": "RuntimeError: no device"}
  assert run["written"] == [str(tmp_path / "fast.json")]
  fast_file = json.loads((tmp_path / "fast.json").read_text())
  assert [r["name"] for r in fast_file["measurements"]] == ["fast/x"]
  assert (fast_file["command"], fast_file["quick"], fast_file["details"]) == (
      "python -m benchmarks --quick", True, {"size": 1})
  assert fast_file["machine"]["date"] and fast_file["elapsed_s"] > 0
  # A goal missed with nothing to explain it is named, never reported as met.
  assert fast_file["profile_notes"] == "Goals missed: fast/x."
  assert {name: (tmp_path / f"{name}.json").read_text() for name in ("broken", "other")} == before
  assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.json", "fast.json", "other.json"]


def test_the_combined_table_reads_every_benchmarks_file(tmp_path):
  for suite, date, command in (("detect", "2026-01-02T00:00:00", "python -m benchmarks"),
                               ("train", "2026-01-02T00:00:00", "python -m benchmarks"),
                               ("input", "2026-02-03T00:00:00", "python -m benchmarks --only input")):
    results_files.write(str(tmp_path), {
        "suite": suite, "machine": _machine(date), "command": command, "quick": False,
        "elapsed_s": 120.0, "measurements": [measurement(f"{suite}/x", "w", "u", 3.0, 1.0, "b", 2.0)]})
  (tmp_path / "retired.json").write_text("{}")  # not a benchmark of the suite: left out
  results = results_files.read_all(str(tmp_path))
  assert [r["suite"] for r in results] == ["train", "input", "detect"]  # running order
  table = results_table.markdown_table(results)
  assert "train, detect: measured 2026-01-02 on Test CPU, 2 cores" in table
  assert "input: measured 2026-02-03" in table and "`python -m benchmarks --only input` in 2.0 min" in table
  rows = [line for line in table.splitlines() if line.startswith("| ") and "/x " in line]
  assert [row.split(" ")[1] for row in rows] == ["train/x", "input/x", "detect/x"]
  command = [sys.executable, "-m", "benchmarks", "--table"]
  repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  shown = subprocess.run(command + [f"--output_dir={tmp_path}"], cwd=repo, capture_output=True, text=True)
  assert shown.returncode == 0 and shown.stdout.strip() == table
  empty = subprocess.run(command + [f"--output_dir={tmp_path / 'none'}"], cwd=repo,
                         capture_output=True, text=True)
  assert empty.returncode == 1 and "no results files" in empty.stderr


def test_each_committed_results_file_holds_its_own_benchmarks_rows_only():
  results = results_files.read_all(results_files.DEFAULT_DIR)
  assert [r["suite"] for r in results] == list(suites.NAMES)
  for result in results:
    names = [r["name"] for r in result["measurements"]]
    assert names and all(n.startswith(result["suite"] + "/") for n in names), names
    assert result["machine"]["date"] and result["command"].startswith("python -m benchmarks")
    assert result["profile_notes"] == profile_notes.ALL_MET or result["profile_notes"].startswith(
        "Goals missed: ")


def test_leave_one_source_out_table_gives_mean_and_range_over_seeds():
  from benchmarks import leave_one_out as loso

  def result(held_out, seed, flagged, f1):
    return {"held_out": held_out, "seed": seed, "threshold": 0.5, "train_s": 60.0,
            "test_recall": 0.9, "test_f1": f1, "test_precision": 0.8, "test_windows": 100,
            "test_f1_at_half": f1 + 0.01, "test_f1_at_best_validation_f1": f1 + 0.02,
            "test_roc_auc": 0.99,
            "false_alarms": {held_out: {"windows": 40, "flagged": flagged,
                                        "false_alarm_rate": flagged / 40}}}

  one = loso.table([result("music", 0, 4, 0.9)], 0.9)
  assert "| music | 0.500 | 10.0% (4 of 40) | 0.900 | 0.900 | 1.0 min |" in one
  three = loso.table([result("music", s, k, f) for s, k, f in ((0, 4, 0.9), (1, 8, 0.8), (2, 0, 0.7))]
                     + [result(loso.ALL, 0, 2, 0.95)], 0.9)
  assert "mean and range over 3 seeds" in three
  assert "| music | 0.500 (0.500–0.500) | 10.0% (0.0%–20.0%) (4, 8, 0 of 40) | " in three
  assert "0.800 (0.700–0.900)" in three
  assert "Nothing held out, seed 0 (threshold 0.500): test F1 0.950" in three
  assert ("test F1 0.960 at 0.5 and 0.970 at the F1-best validation threshold, ROC-AUC 0.9900"
          in three)
  assert "Nothing held out, over" not in three
  seeds = loso.table([result(loso.ALL, s, 0, f) for s, f in ((0, 0.9), (1, 0.94))], 0.9)
  assert ("Nothing held out, over 2 seeds: test F1 0.930 (0.910–0.950) at 0.5, 0.940 "
          "(0.920–0.960) at the F1-best validation threshold, 0.920 (0.900–0.940) at the "
          "threshold of 90% validation recall; ROC-AUC 0.9900 (0.9900–0.9900)") in seeds
  heard = loso.table([dict(result("music", 0, 4, 0.9), heard_share=0.5)], 0.9)
  assert "| music (the rest of it; 50% of its recordings not held out) | 0.500 | 10.0% (4 of 40) |" in heard


def test_a_finished_leave_one_out_run_is_measured_again_from_its_scores(tmp_path):
  """A run reused from an earlier invocation is measured at this invocation's recall, with
  every metric the benchmark reports now, from the scores it saved."""
  from babycry_jax import metrics
  from benchmarks import leave_one_out as loso
  from configs import yamnet_head
  config = yamnet_head.get_config("data/real_world")
  settings = config.copy_and_resolve_references()
  settings.dataset_dir, settings.seed = "data/real_world", 0
  out = tmp_path / loso.ALL / "seed_0"
  out.mkdir(parents=True)
  (out / "result.json").write_text(json.dumps(
      {"threshold": 0.123, "train_s": 42.0, "config": loso._training_settings(settings)}))
  rng = np.random.default_rng(0)
  ids = np.array([f"clip{i}" for i in range(40)])
  labels = np.arange(40) % 2
  scores = np.clip(0.35 * labels + 0.6 * rng.random(40), 0, 1)
  np.savez(out / "scores.npz", validation_ids=ids, validation_labels=labels,
           validation_scores=scores, test_ids=ids, test_labels=labels, test_scores=scores[::-1])
  sources = {i: {"source_group": "cry" if k else "music"} for i, k in zip(ids, labels)}
  result = loso.run_group(loso.ALL, 0, sources, str(tmp_path), config, "data/real_world", 0.75)
  assert result["threshold"] == metrics.threshold_at_recall(labels, scores, 0.75) != 0.123
  assert result["train_s"] == 42.0
  assert result["test_roc_auc"] == metrics.roc_auc(labels, scores[::-1])
  assert result["test_f1_at_best_validation_f1"] == metrics.binary_metrics(
      labels, scores[::-1], metrics.best_f1_threshold(labels, scores))["f1"]
  stored = json.loads((out / "result.json").read_text())   # rewritten, config kept
  assert stored["recall"] == 0.75 and stored["threshold"] == result["threshold"]
  assert stored["config"] == loso._training_settings(settings)
  # Without its scores or a checkpoint to score again, it says so.
  (out / "scores.npz").unlink()
  with pytest.raises(loso.RunError, match="neither its scores nor its checkpoint"):
    loso.run_group(loso.ALL, 0, sources, str(tmp_path), config, "data/real_world", 0.75)


def test_leave_one_source_out_names_each_bad_flag():
  done = subprocess.run([sys.executable, "-m", "benchmarks.real_world", "--groups=cats",
                         "--heard_share=1"], cwd=os.path.dirname(os.path.dirname(__file__)),
                        capture_output=True, text=True)
  assert done.returncode == 1
  assert "unknown groups ['cats']" in done.stderr
  assert "--heard_share=1.0 is outside [0, 1)" in done.stderr and "--recall" not in done.stderr


def test_the_non_commercial_group_is_every_recording_whose_licence_forbids_commercial_use():
  from benchmarks import leave_one_out
  from preprocess import real_world_sources
  sources = {path: {"source_group": group, "category": category} for path, group, category in (
      ("real_world/esc50_other/cat/4-1-A-5.flac", "animals", "esc50/cat"),
      ("real_audio/librosa_misc/pibble.ogg", "animals", "librosa_misc"),
      ("real_audio/librosa_misc/456440__inspectorj__bird-whistling-robin-single-13.ogg",
       "animals", "librosa_misc"),
      ("real_world/child_speech/SPEAKER1/1.flac", "children_speech", "child_speech"),
      ("cry_mixtures/mix_0001.wav", "cry_mixture", "mix/domestic"))}
  relabelled, tag, folder = leave_one_out.held_out_sources(sources, real_world_sources.NON_COMMERCIAL, 0.0)
  assert [s["source_group"] for s in relabelled.values()] == [
      "non_commercial", "non_commercial", "animals", "children_speech", "cry_mixture"]
  assert tag == {} and folder == "" and sources["real_world/esc50_other/cat/4-1-A-5.flac"][
      "source_group"] == "animals"   # the caller's sources are left as they were
