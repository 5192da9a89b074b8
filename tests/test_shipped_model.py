"""The model shipped in the package loads, reproduces its recorded validation metrics and
scores, and runs detection with no workdir (a video on its audio, saying so)."""
import json
import os
import subprocess
import sys
import wave

import jax
import numpy as np
import pytest

from babycry_jax import detection, detection_files, forward, metrics, shipped_model
from babycry_jax.data import schema
from babycry_jax.data.example_decoder import ExampleDecoder
from conftest import REPO_ROOT


@pytest.fixture(scope="module")
def shipped():
  return shipped_model.load()


def test_recorded_validation_metrics_follow_from_the_shipped_predictions(shipped):
  _, info = shipped
  labels, scores = shipped_model.read_validation_predictions()
  assert info["threshold"] == metrics.best_f1_threshold(labels, scores)
  recomputed = metrics.binary_metrics(labels, scores, info["threshold"])
  for key in ("f1", "precision", "recall", "accuracy", "roc_auc", "pr_auc", "confusion_matrix"):
    assert recomputed[key] == info["validation_metrics"][key], key
  assert "non-commercial" in info["licence_note"]


def test_the_shipped_model_reproduces_its_validation_scores(shipped):
  run, _ = shipped
  sample = shipped_model.read_validation_sample()
  decoder = ExampleDecoder(run.metadata, run.config.audio_frames, run.config.video_frames)
  empty = schema.empty_window_features(run.spec)
  inputs = [forward.model_inputs(decoder.model_inputs(dict(
      empty, **{schema.LOG_MEL: mel.astype(np.float32), schema.MFCC_STATS: mfcc,
                schema.HAS_AUDIO: True, "label": 0})))
      for mel, mfcc in zip(sample["log_mel"], sample["mfcc_stats"])]
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
  path = tmp_path / "hum.wav"
  with wave.open(str(path), "wb") as f:
    f.setnchannels(1)
    f.setsampwidth(2)
    f.setframerate(8000)
    f.writeframes((np.sin(np.arange(48000) * 0.2) * 3000).astype(np.int16).tobytes())
  env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=str(REPO_ROOT))
  env.pop("XLA_FLAGS", None)
  proc = subprocess.run([sys.executable, "-m", "babycry_jax.detect", "--output_dir", str(tmp_path),
                         str(path)], cwd=tmp_path, env=env, capture_output=True, text=True,
                        timeout=240)
  assert proc.returncode == 0, proc.stdout + proc.stderr
  result = json.loads((tmp_path / "hum.json").read_text())
  assert result["num_windows"] == 3 and result["smoothing"]["windows"] == 3   # 6 s, hop 1 s
