"""Evaluation of a trained run: outputs, metric consistency, thresholds, modalities, --compare."""
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import synthetic_dataset
from babycry_jax import evaluation, metrics, trainer
from configs import default

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SIZES = {"train": 16, "validation": 16, "test": 16}


def _train(root: pathlib.Path, model: str, model_kwargs: dict) -> str:
  dataset_dir = root / "dataset"
  if not dataset_dir.exists():
    synthetic_dataset.write(str(dataset_dir), sizes=SIZES, num_shards=2)
  config = default.get_config()
  config.dataset_dir = str(dataset_dir)
  config.model = model
  config.model_kwargs = model_kwargs
  config.loss = "hinge" if model == "svm" else "cross_entropy"
  config.audio_frames = 20
  config.video_frames = 3
  config.batch_size = 16
  config.num_epochs = 1
  config.learning_rate = 1e-2
  workdir = str(root / model)
  trainer.train_and_evaluate(config, workdir)
  return workdir


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, str]:
  """Two tiny trained runs on one synthetic dataset: a fusion model and a linear SVM."""
  root = tmp_path_factory.mktemp("eval_runs")
  return {
      "fusion": _train(root, "fusion_cnn_cnn_fc", dict(
          num_segments=1, conv_features=(4, 4), segment_dense=8, dense_features=(8,),
          dropout_rates=(0.0,))),
      "svm": _train(root, "svm", {}),
  }


@pytest.fixture(scope="module")
def evaluated(runs) -> dict:
  """The fusion run evaluated on test under all three modality settings, and on validation."""
  result = evaluation.evaluate(runs["fusion"], ("test", "validation"),
                             modalities=("both", "audio", "video"))
  return {"test": result["by_split"]["test"], "validation": result["by_split"]["validation"]}


def _csv(path):
  import csv
  with open(path, newline="") as f:
    return list(csv.DictReader(f))


def test_every_output_is_written(runs, evaluated):
  out = pathlib.Path(runs["fusion"]) / "eval" / "test"
  result = json.loads((out / "metrics.json").read_text())
  for key in ("accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc", "confusion_matrix",
              "checkpoint_step", "model", "split", "at_val_best_threshold"):
    assert key in result, key
  assert result["threshold"] == 0.5
  best = result["at_val_best_threshold"]
  for key in ("threshold", "accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc",
              "confusion_matrix"):
    assert key in best, key
  assert best["chosen_on"] == "validation"
  rows = _csv(out / "predictions.csv")
  assert len(rows) == SIZES["test"]
  assert list(rows[0]) == ["clip_id", "source_id", "label", "score"]
  assert len({r["clip_id"] for r in rows}) == SIZES["test"]
  assert all(0.0 <= float(r["score"]) <= 1.0 for r in rows)
  for name in ("roc.png", "pr.png", "confusion.png", "score_hist.png"):
    data = (out / name).read_bytes()
    assert data[:8] == PNG_SIGNATURE, name
    with Image.open(out / name) as image:
      image.verify()
      assert image.size[0] > 100 and image.size[1] > 100
  assert not [p for p in os.listdir(out) if ".tmp" in p]


def test_metrics_equal_those_recomputed_from_the_predictions(runs, evaluated):
  out = pathlib.Path(runs["fusion"]) / "eval"
  result = json.loads((out / "test" / "metrics.json").read_text())
  labels, scores = evaluation.read_predictions_csv(str(out / "test" / "predictions.csv"))
  recomputed = metrics.binary_metrics(labels, scores, 0.5)
  for key in ("accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc"):
    assert result[key] == pytest.approx(recomputed[key], abs=1e-12), key
  assert result["confusion_matrix"] == recomputed["confusion_matrix"]
  assert np.sum(result["confusion_matrix"]) == SIZES["test"]
  # The second threshold is the F1-best one on validation, applied to test.
  val_labels, val_scores = evaluation.read_predictions_csv(str(out / "validation" / "predictions.csv"))
  threshold = metrics.best_f1_threshold(val_labels, val_scores)
  best = result["at_val_best_threshold"]
  assert best["threshold"] == pytest.approx(threshold, abs=1e-12)
  at_best = metrics.binary_metrics(labels, scores, threshold)
  for key in ("accuracy", "precision", "recall", "f1"):
    assert best[key] == pytest.approx(at_best[key], abs=1e-12), key
  assert best["confusion_matrix"] == at_best["confusion_matrix"]
  # On validation itself that threshold is at least as good as 0.5.
  assert best["validation_f1"] >= metrics.binary_metrics(val_labels, val_scores, 0.5)["f1"] - 1e-12


def test_modality_settings_write_their_own_metrics(runs, evaluated):
  out = pathlib.Path(runs["fusion"]) / "eval" / "test"
  settings = {"both": "metrics.json", "audio": "metrics_audio_only.json",
              "video": "metrics_video_only.json"}
  scores = {}
  for setting, name in settings.items():
    result = json.loads((out / name).read_text())
    assert result["modalities"] == setting
    assert result["hidden_modality"] == evaluation.MODALITY_SETTINGS[setting]
    assert result["num_examples"] == SIZES["test"]
    suffix = name[len("metrics"):-len(".json")]
    _, scores[setting] = evaluation.read_predictions_csv(str(out / f"predictions{suffix}.csv"))
    assert (out / f"roc{suffix}.png").exists()
  # Hiding a track changes what the fusion model sees, so its scores move.
  assert not np.allclose(scores["both"], scores["audio"])
  assert not np.allclose(scores["both"], scores["video"])
  table = (out / "modalities.md").read_text().strip().splitlines()
  assert len(table) == 2 + 3
  assert "audio only" in table[3] and "video only" in table[4]
  assert set(evaluated["test"]["by_modality"]) == {"both", "audio", "video"}


def test_hide_modality_zeroes_the_track_and_its_flag():
  inputs = {"log_mel": np.ones((4, 3), np.float32), "mfcc_stats": np.ones(6, np.float32),
            "frames": np.ones((2, 4, 4, 1), np.float32), "has_audio": np.float32(1),
            "has_video": np.float32(1)}
  no_video = evaluation.hide_modality(inputs, "video")
  assert not no_video["frames"].any() and no_video["has_video"] == 0
  assert no_video["log_mel"].all() and no_video["has_audio"] == 1
  no_audio = evaluation.hide_modality(inputs, "audio")
  assert not no_audio["log_mel"].any() and not no_audio["mfcc_stats"].any()
  assert no_audio["has_audio"] == 0 and no_audio["frames"].all()
  assert inputs["frames"].all()  # the input itself is untouched


def test_a_setting_that_hides_everything_the_model_reads_is_skipped(runs):
  result = evaluation.evaluate(runs["svm"], "test", modalities=("both", "video"))
  assert isinstance(result["by_modality"]["video"], str)
  assert "reads only audio" in result["by_modality"]["video"]
  with pytest.raises(ValueError, match="no modality setting"):
    evaluation.evaluate(runs["svm"], "test", modalities=("video",))


def test_compare_prints_one_row_per_run(runs, evaluated):
  repo = pathlib.Path(__file__).resolve().parents[1]
  svm_metrics = pathlib.Path(runs["svm"]) / "eval/test/metrics.json"
  if svm_metrics.exists():
    svm_metrics.unlink()
  proc = subprocess.run(
      [sys.executable, "-m", "babycry_jax.evaluate", "--compare", runs["fusion"], runs["svm"]],
      capture_output=True, text=True, cwd=repo, timeout=300)
  assert proc.returncode == 0, proc.stderr
  table = [line for line in proc.stdout.splitlines() if line.startswith("|")]
  assert len(table) == 2 + 2
  header = [c.strip() for c in table[0].strip("|").split("|")]
  for column in ("model", "checkpoint step", "split", "F1", "precision", "recall", "accuracy",
                 "ROC-AUC", "PR-AUC"):
    assert column in header
  fusion_row = [c.strip() for c in table[2].strip("|").split("|")]
  stored = json.loads((pathlib.Path(runs["fusion"]) / "eval/test/metrics.json").read_text())
  assert fusion_row[header.index("model")] == "fusion_cnn_cnn_fc"
  assert float(fusion_row[header.index("F1")]) == pytest.approx(stored["f1"], abs=1e-4)
  assert int(fusion_row[header.index("checkpoint step")]) == stored["checkpoint_step"]
  svm_row = [c.strip() for c in table[3].strip("|").split("|")]
  assert svm_row[header.index("model")] == "svm"
  # The svm run had no metrics.json: compare evaluated it and wrote one.
  assert json.loads(svm_metrics.read_text())["f1"] == pytest.approx(
      float(svm_row[header.index("F1")]), abs=1e-4)


def test_evaluation_reads_the_configs_eval_batch_size(runs):
  """config.eval_batch_size sets the batch (rounded up to fill the devices); the scores do not
  depend on it."""
  from babycry_jax import runs as runs_lib
  scores = {}
  for eval_batch in (8, 24):
    run = runs_lib.load_run(runs["fusion"], "best")
    run.config.eval_batch_size = eval_batch
    evaluator = evaluation.Evaluator(run)
    assert evaluator.batch_size == eval_batch
    scores[eval_batch] = evaluator.predict("test").scores
  assert len(scores[8]) == SIZES["test"]
  np.testing.assert_allclose(scores[8], scores[24], rtol=1e-5, atol=1e-6)
