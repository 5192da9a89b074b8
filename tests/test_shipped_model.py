"""The model shipped in the package loads, reproduces its recorded validation metrics and
scores, and runs detection with no workdir (a video on its audio, saying so)."""
import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from babycry_jax import detection, detection_files, forward, metrics, shipped_model
from babycry_jax.data import schema
from babycry_jax.data.example_decoder import ExampleDecoder
from conftest import REPO_ROOT
from wav_files import write_wav


SHIPPED = sorted(n for n in os.listdir(shipped_model.PRETRAINED_DIR)
                 if os.path.isfile(os.path.join(shipped_model.PRETRAINED_DIR, n, shipped_model.MODEL_FILE)))
# What each model's licence line must say, from the data it learned from.
LICENCE = {"real_world_cnn_pool": "non-commercial", "yamnet_cry": "non-commercial",
           "yamnet_zero_shot": "Apache License 2.0"}


def test_every_shipped_model_has_a_licence_line():
  assert shipped_model.DEFAULT_NAME in SHIPPED and set(SHIPPED) == set(LICENCE)


@pytest.mark.parametrize("name", SHIPPED)
def test_recorded_validation_metrics_follow_from_the_shipped_predictions(name):
  info = shipped_model.read_info(name)
  labels, scores = shipped_model.read_validation_predictions(name)
  assert info["threshold"] == metrics.best_f1_threshold(labels, scores)
  recomputed = metrics.binary_metrics(labels, scores, info["threshold"])
  for key in ("f1", "precision", "recall", "accuracy", "roc_auc", "pr_auc", "confusion_matrix"):
    assert recomputed[key] == info["validation_metrics"][key], key
  assert LICENCE[name] in info["licence_note"]


@pytest.mark.parametrize("name", SHIPPED)
def test_the_shipped_model_reproduces_its_validation_scores(name):
  run, _ = shipped_model.load(name)
  sample = shipped_model.read_validation_sample(name)
  decoder = ExampleDecoder(run.metadata, run.config.audio_frames, run.config.video_frames)
  empty = schema.empty_window_features(run.spec)
  features = {k: f for k, f in (("log_mel", schema.LOG_MEL), ("mfcc_stats", schema.MFCC_STATS),
                                   ("yamnet_log_mel", schema.YAMNET_LOG_MEL)) if k in sample}
  inputs = [forward.model_inputs(decoder.model_inputs(dict(
      empty, **{f: sample[k][i].astype(empty[f].dtype) for k, f in features.items()},
      **{schema.HAS_AUDIO: True, "label": 0})))
      for i in range(len(sample["scores"]))]
  batch = {k: np.stack([x[k] for x in inputs]) for k in schema.MODEL_INPUTS}
  scores = jax.jit(lambda b: forward.crying_probability(
      run.model.apply, run.state.params, run.state.batch_stats, b))(batch)
  np.testing.assert_allclose(np.asarray(scores), sample["scores"], atol=1e-5)
  assert set(sample["labels"].tolist()) == {0, 1}


def test_a_video_runs_on_its_audio_with_the_shipped_model(shared_data, tmp_path):
  detector = detection.shipped_detector(shipped_model.DEFAULT_NAME)
  avi = str(shared_data / "seed_samples/3DCNN/baby/1016.avi")
  done, failed = detection_files.detect_files(detector, [avi], str(tmp_path),
                                        threshold=detector.default_threshold)
  assert not failed
  result = json.loads((tmp_path / "1016.json").read_text())
  assert result["modalities_used"] == ["audio"]
  assert "ignores the video track" in result["modalities_note"]
  assert result["model_source"] == f"shipped model {shipped_model.DEFAULT_NAME}"
  assert result["workdir"] is None
  assert result["threshold"] == shipped_model.read_info()["threshold"]


def test_the_command_needs_no_workdir(tmp_path):
  path = write_wav(tmp_path / "hum.wav", 0.09 * np.sin(np.arange(48000) * 0.2), 8000)
  env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=str(REPO_ROOT))
  env.pop("XLA_FLAGS", None)
  proc = subprocess.run([sys.executable, "-m", "babycry_jax.detect", "--output_dir", str(tmp_path),
                         path], cwd=tmp_path, env=env, capture_output=True, text=True,
                        timeout=240)
  assert proc.returncode == 0, proc.stdout + proc.stderr
  result = json.loads((tmp_path / "hum.json").read_text())
  # 6 s at a hop of 0.96 s (1 s snapped to YAMNet's patches): windows start at 0 to 2.88 s,
  # the last one padded.
  assert result["hop_s"] == pytest.approx(0.96) and result["num_windows"] == 4
  assert result["smoothing"]["windows"] == 3


def test_a_shipped_model_detects_without_orbax_or_tfds(tmp_path):
  """Orbax (a third of a second to import) is for a workdir's checkpoints only, TFDS for
  parsing records; neither is imported when a shipped model scores a file."""
  path = write_wav(tmp_path / "hum.wav", 0.09 * np.sin(np.arange(48000) * 0.2), 8000)
  code = ("import sys; from babycry_jax import detect, detection, detection_files; "
          "d = detection.shipped_detector('yamnet_cry'); "
          f"_, failed = detection_files.detect_files(d, [{path!r}], {str(tmp_path)!r}, plot=False); "
          "assert not failed, failed; "
          "print(sorted(m for m in sys.modules if m.startswith(('orbax', 'tensorflow_datasets'))))")
  env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=str(REPO_ROOT))
  proc = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True,
                        text=True, timeout=240)
  assert proc.returncode == 0, proc.stderr
  assert proc.stdout.strip().splitlines()[-1] == "[]"
