"""Shipping a trained run (`python -m babycry_jax.export_model`): the folder it writes, and the
model loaded from it scoring as the run did, through detect with no workdir."""
import json
import subprocess
import sys

import jax
import numpy as np

import synthetic_dataset
from wav_files import write_wav
from babycry_jax import evaluation, metrics, runs, shipped_model, trainer
from babycry_jax.data import schema
from conftest import REPO_ROOT
from configs import default

SPEC = schema.preset("paper", window_s=1.0, hop_s=1.0, n_mels=32, num_frames=2, frame_size=8)


def test_export_writes_a_model_that_scores_as_its_run(tmp_path):
  data = synthetic_dataset.write(str(tmp_path / "data"), {"train": 32, "validation": 16, "test": 8},
                                 spec=SPEC, num_shards=1)
  config = default.model_config("cnn_pool", optimizer="adam", learning_rate=1e-2, batch_size=16,
                                num_epochs=2)
  config.dataset_dir, config.audio_frames, config.video_frames = data, 100, 2
  config.loader.worker_count = 0
  workdir = str(tmp_path / "run")
  trainer.train_and_evaluate(config, workdir)

  out = tmp_path / "shipped"
  done = subprocess.run(
      [sys.executable, "-m", "babycry_jax.export_model", f"--workdir={workdir}",
       f"--output_dir={out}", "--sample_size=6", '--info={"licence_note": "test data"}'],
      cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
  assert done.returncode == 0, done.stderr[-2000:]
  assert {p.name for p in out.iterdir()} == {
      "config.json", "variables.msgpack", "model.json", "validation_predictions.csv",
      "validation_sample.npz"}
  info = json.loads((out / "model.json").read_text())
  run = runs.load_run(workdir, "best")
  assert info["checkpoint_step"] == run.step and info["licence_note"] == "test data"
  labels, scores = shipped_model.read_validation_predictions(str(out))
  assert len(labels) == 16
  np.testing.assert_allclose(scores, evaluation.Evaluator(run).predict("validation").scores,
                             rtol=1e-6)
  assert info["threshold"] == metrics.best_f1_threshold(labels, scores)

  shipped, _ = shipped_model.load(str(out))
  same = jax.tree.map(lambda a, b: np.array_equal(np.asarray(a), np.asarray(b)),
                      run.state.params, shipped.state.params)
  assert all(jax.tree.leaves(same))
  sample = shipped_model.read_validation_sample(str(out))
  assert len(sample["scores"]) == 6 and set(sample["labels"].tolist()) == {0, 1}

  wav = write_wav(tmp_path / "hum.wav", 0.09 * np.sin(np.arange(24000) * 0.3), 8000)
  detect = subprocess.run(
      [sys.executable, "-m", "babycry_jax.detect", f"--shipped_model={out}", "--nopng",
       f"--output_dir={tmp_path / 'det'}", wav],
      cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
  assert detect.returncode == 0, detect.stderr[-2000:]
  result = json.loads((tmp_path / "det" / "hum.json").read_text())
  assert result["threshold"] == info["threshold"] and result["num_windows"] == 3
  assert not (tmp_path / "det" / "hum.png").exists()


def test_export_names_its_destination_and_never_overwrites_a_shipped_model_by_default(tmp_path):
  done = subprocess.run([sys.executable, "-m", "babycry_jax.export_model", f"--workdir={tmp_path}"],
                        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
  assert done.returncode == 1 and "give either --name" in done.stderr
