"""Every command refuses bad input before any work: a clear one-line message, a non-zero exit,
no traceback, nothing written."""
import os
import subprocess
import sys
import wave

import numpy as np
import pytest

from conftest import REPO_ROOT

CONFIG = str(REPO_ROOT / "configs" / "default.py")


def _run(module, args, cwd, timeout=240):
  env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=str(REPO_ROOT))
  env.pop("XLA_FLAGS", None)
  return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, env=env,
                        capture_output=True, text=True, timeout=timeout)


def _check_refused(proc, message, cwd, before):
  out = proc.stdout + proc.stderr
  assert proc.returncode != 0, out
  assert message in out, out
  assert "Traceback" not in out, out
  assert sorted(os.listdir(cwd)) == before, "the command wrote something"


def _wav(path, seconds=5.0, rate=8000):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  samples = (np.sin(np.arange(int(seconds * rate)) * 0.3) * 8000).astype(np.int16)
  with wave.open(str(path), "wb") as f:
    f.setnchannels(1)
    f.setsampwidth(2)
    f.setframerate(rate)
    f.writeframes(samples.tobytes())


TRAIN_CASES = {
    # A mistyped dataset path is an error, never a synthetic dataset built there.
    "missing_dataset": (["--config.dataset_dir=/nonexistent/ds"],
                        "no dataset at /nonexistent/ds (no metadata.json); build it with "
                        "`python -m preprocess --input MEDIA --output /nonexistent/ds`"),
    "batch_size_zero": (["--config.batch_size=0"], "config.batch_size=0: must be an integer >= 1"),
    "unknown_model": (["--config.model=resnet"], "config.model='resnet': must be one of"),
    "negative_learning_rate": (["--config.learning_rate=-0.1"],
                               "config.learning_rate=-0.1: must be a number > 0.0"),
    "dropout_above_one": (["--config.modality_dropout=1.5"],
                          "config.modality_dropout=1.5: must be a number >= 0.0 and <= 1.0"),
    "snr_range_reversed": (["--config.augment.negative_mix_snr_db=(10,0)"],
                           "config.augment.negative_mix_snr_db=(10, 0): must be two numbers"),
    "unknown_optimizer": (["--config.optimizer=adagrad"], "config.optimizer='adagrad': must be one of"),
    "unknown_strategy": (["--config.parallel=dp"], "config.parallel='dp': must be one of"),
    "negative_checkpoint_minutes": (["--config.checkpoint_every_minutes=-5"],
                                    "config.checkpoint_every_minutes=-5.0: must be a number >= 0.0"),
    "unknown_field": (["--config.batchsize=8"], "batchsize"),
    "half_a_cluster": (["--coordinator_address=127.0.0.1:1"],
                       "--coordinator_address, --num_processes and --process_id go together"),
}


@pytest.mark.parametrize("case", sorted(TRAIN_CASES))
def test_train_refuses(case, tmp_path):
  extra, message = TRAIN_CASES[case]
  proc = _run("babycry_jax.train", ["--config", CONFIG, "--workdir", "run", *extra], tmp_path)
  _check_refused(proc, message, tmp_path, [])
  assert not os.path.exists("/nonexistent")


def test_train_names_the_recipe_of_a_missing_real_audio_dataset(tmp_path):
  proc = _run("babycry_jax.train", ["--config", str(REPO_ROOT / "configs" / "real_audio.py"),
                                    "--workdir", "run"], tmp_path)
  _check_refused(proc, "build it with `python -m preprocess.real_audio_recipe", tmp_path, [])


EVALUATE_CASES = {
    "absent_workdir": (["--workdir=absent"], "absent has no config.json"),
    "no_workdir": ([], "--workdir is required"),
    "stray_argument": (["--workdir=absent", "extra"], "unexpected arguments ['extra']"),
    "unknown_modality": (["--workdir=absent", "--modalities=smell"], "--modalities 'smell'"),
    "missing_checkpoint_flag_value": (["--workdir=absent", "--checkpoint="], "absent has no config.json"),
}


@pytest.mark.parametrize("case", sorted(EVALUATE_CASES))
def test_evaluate_refuses(case, tmp_path):
  args, message = EVALUATE_CASES[case]
  _check_refused(_run("babycry_jax.evaluate", args, tmp_path), message, tmp_path, [])


# Commands that take flags only (console.parse_only_flags), each given its required flags.
FLAGS_ONLY_COMMANDS = {
    "babycry_jax.doctor": [], "babycry_jax.export_model": ["--workdir=absent", "--name=x"],
    "benchmarks": [], "preprocess.embedded_default": ["--output=absent"],
}


@pytest.mark.parametrize("module", sorted(FLAGS_ONLY_COMMANDS))
def test_a_flags_only_command_refuses_a_positional_argument(module, tmp_path):
  proc = _run(module, FLAGS_ONLY_COMMANDS[module] + ["extra"], tmp_path)
  _check_refused(proc, "error: unexpected arguments ['extra']", tmp_path, [])
  assert proc.returncode == 1


DETECT_CASES = {
    "no_files": (["--workdir=absent"], "give at least one media file"),
    "threshold_above_one": (["--workdir=absent", "--threshold=2", "a.wav"],
                            "--threshold must be within [0, 1], got 2.0"),
    "zero_hop": (["--workdir=absent", "--hop_s=0", "a.wav"], "--hop_s must be positive, got 0.0"),
    "even_smoothing": (["--workdir=absent", "--smoothing_windows=2", "a.wav"],
                       "--smoothing_windows must be an odd integer >= 1"),
    "absent_workdir": (["--workdir=absent", "a.wav"], "absent has no config.json"),
    "zero_batch": (["--workdir=absent", "--batch_size=0", "a.wav"], "--batch_size"),
    "unknown_shipped_model": (["--shipped_model=absent", "a.wav"], "no shipped model 'absent'"),
}


@pytest.mark.parametrize("case", sorted(DETECT_CASES))
def test_detect_refuses(case, tmp_path):
  args, message = DETECT_CASES[case]
  _check_refused(_run("babycry_jax.detect", args, tmp_path), message, tmp_path, [])


PREPROCESS_CASES = {
    "negative_window": (["--window_s=-1"], "bad feature spec: window_s=-1.0 (must be > 0)"),
    "zero_hop": (["--hop_s=0"], "hop_s=0.0 (must be > 0)"),
    "fractions": (["--split_fractions=0.5,0.5,0.5"], "split"),
    "zero_shards": (["--num_shards=0"], "--num_shards must be a positive integer or 'auto'"),
    "zero_workers": (["--direct_num_workers=0"], "--direct_num_workers"),
    "failure_fraction": (["--max_failure_fraction=2"], "--max_failure_fraction"),
    "missing_input": (["--input=absent_media"], "absent_media"),
}


@pytest.mark.parametrize("case", sorted(PREPROCESS_CASES))
def test_preprocess_refuses(case, tmp_path):
  _wav(tmp_path / "media" / "crying" / "a.wav")
  _wav(tmp_path / "media" / "not_crying" / "b.wav")
  extra, message = PREPROCESS_CASES[case]
  args = ["--input=media", "--output=ds", *extra]
  _check_refused(_run("preprocess", args, tmp_path), message, tmp_path, ["media"])
