"""The trainer end to end on tiny data: learning, resuming, devices, preemption, divergence."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

import synthetic_dataset
import tiny_config
from babycry_jax import checkpointing, runs, trainer

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
  return synthetic_dataset.write(str(tmp_path_factory.mktemp("ds") / "d"))


def _config(dataset, **overrides):
  c = tiny_config.get_config()
  c.dataset_dir = dataset
  for k, v in overrides.items():
    c[k] = v
  return c


def _records(workdir, kind):
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    return [r for r in map(json.loads, f) if r["kind"] == kind]


def _params(workdir, which="latest"):
  return jax.tree.leaves(runs.load_run(workdir, which).state.params)


def _run_cli(workdir, dataset, devices, extra=(), wait=True, **env_extra):
  env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}",
             PYTHONPATH=REPO, JAX_PLATFORMS="cpu", **env_extra)
  cmd = [sys.executable, "-m", "babycry_jax.train", "--config", os.path.join(REPO, "tests", "tiny_config.py"),
         "--workdir", str(workdir), f"--config.dataset_dir={dataset}", *extra]
  proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
  if not wait:
    return proc
  out, _ = proc.communicate(timeout=300)
  assert proc.returncode == 0, out
  return out


def test_trains_on_all_devices_and_learns(dataset, tmp_path):
  assert jax.local_device_count() == 8
  val = trainer.train_and_evaluate(_config(dataset), str(tmp_path))
  assert val["roc_auc"] > 0.85, val  # 24 validation examples: F1 swings with the shuffle seed
  train_rows = _records(tmp_path, "train")
  assert [r["step"] for r in train_rows] == list(range(1, 13))
  assert train_rows[-1]["loss"] < train_rows[0]["loss"]
  for key in ("examples_per_s", "steps_per_s", "input_wait_fraction", "compile_s", "checkpoint_s"):
    assert key in train_rows[-1]
  assert [r["step"] for r in _records(tmp_path, "val")] == [4, 8, 12]
  assert os.listdir(tmp_path / "tensorboard")
  ckpt = checkpointing.Checkpointer(str(tmp_path), read_only=True)
  assert ckpt.latest_step() == 12
  best = ckpt.best_step()
  f1_by_step = {r["step"]: r["f1"] for r in _records(tmp_path, "val")}
  assert f1_by_step[best] == max(f1_by_step.values())
  ckpt.close()


def test_resume_matches_an_uninterrupted_run(dataset, tmp_path):
  trainer.train_and_evaluate(_config(dataset, num_epochs=2), str(tmp_path / "straight"))
  trainer.train_and_evaluate(_config(dataset, num_epochs=1), str(tmp_path / "split"))
  trainer.train_and_evaluate(_config(dataset, num_epochs=2), str(tmp_path / "split"))
  steps = [r["step"] for r in _records(tmp_path / "split", "train")]
  assert steps == list(range(1, 9))  # the second run went on from step 4
  for a, b in zip(_params(tmp_path / "straight"), _params(tmp_path / "split")):
    np.testing.assert_array_equal(a, b)



def test_checkpoints_by_wall_time_between_epochs_and_resume_exactly(dataset, tmp_path):
  trainer.train_and_evaluate(_config(dataset, num_epochs=2), str(tmp_path / "straight"))
  # An interval of under a millisecond is due after every step.
  timed, every_step = tmp_path / "timed", dict(num_epochs=2, checkpoint_every_minutes=1e-5,
                                               checkpoint_keep=100)
  trainer.train_and_evaluate(_config(dataset, **every_step), str(timed))
  ckpt = checkpointing.Checkpointer(str(timed), read_only=True)
  assert sorted(ckpt.steps()) == list(range(1, 9))  # 4 and 8 by epoch, the others by time
  assert "val_f1" not in ckpt.read_meta(6)["metrics"]  # a time checkpoint: no validation
  ckpt.close()
  # The host is lost right after the mid-epoch checkpoint of step 6: later ones never happened.
  for step in (7, 8):
    shutil.rmtree(timed / "checkpoints" / str(step))
  trainer.train_and_evaluate(_config(dataset, **every_step), str(timed))
  assert [r["step"] for r in _records(timed, "train")] == [*range(1, 9), 7, 8]
  for a, b in zip(_params(tmp_path / "straight"), _params(timed)):
    np.testing.assert_array_equal(a, b)

def test_shard_map_matches_pmap(dataset, tmp_path):
  trainer.train_and_evaluate(_config(dataset, num_epochs=1), str(tmp_path / "pmap"))
  trainer.train_and_evaluate(_config(dataset, num_epochs=1, parallel="shard_map"),
                           str(tmp_path / "shard_map"))
  a = [r["loss"] for r in _records(tmp_path / "pmap", "train")]
  b = [r["loss"] for r in _records(tmp_path / "shard_map", "train")]
  np.testing.assert_allclose(a, b, rtol=1e-5)


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(dataset, tmp_path):
  trainer.train_and_evaluate(_config(dataset, num_epochs=1), str(tmp_path))
  with pytest.raises(trainer.TrainingDiverged, match=r"at step \d+"):
    trainer.train_and_evaluate(_config(dataset, num_epochs=3, learning_rate=1e30), str(tmp_path))
  ckpt = checkpointing.Checkpointer(str(tmp_path), read_only=True)
  assert ckpt.steps() == [4]
  ckpt.close()
  assert all(np.isfinite(p).all() for p in _params(tmp_path))


def test_one_device_and_eight_devices_give_the_same_loss_curve(dataset, tmp_path):
  # Cross-replica BatchNorm sees the global batch whatever the device count.
  no_dropout = ["--config.model_kwargs.dropout_rates=(0.0,)", "--config.model_kwargs.batch_norm=True"]
  _run_cli(tmp_path / "one", dataset, 1, no_dropout)
  _run_cli(tmp_path / "eight", dataset, 8, no_dropout)
  a = [r["loss"] for r in _records(tmp_path / "one", "train")]
  b = [r["loss"] for r in _records(tmp_path / "eight", "train")]
  assert len(a) == 12
  np.testing.assert_allclose(a, b, rtol=2e-4, atol=1e-5)


def test_checkpoint_from_eight_devices_continues_on_two(dataset, tmp_path):
  trainer.train_and_evaluate(_config(dataset, num_epochs=1), str(tmp_path))
  out = _run_cli(tmp_path, dataset, 2, ["--config.num_epochs=2"])
  assert "resuming from checkpoint at step 4" in out
  assert "on 2 devices" in out
  assert [r["step"] for r in _records(tmp_path, "train")] == list(range(1, 9))


def test_sigkill_then_restart_is_bit_identical(dataset, tmp_path):
  # The killed run reads through two loader worker processes, the others in-process.
  extra = ["--config.num_epochs=4"]
  _run_cli(tmp_path / "straight", dataset, 8, extra)
  proc = _run_cli(tmp_path / "killed", dataset, 8, extra + ["--config.loader.worker_count=2"],
                  wait=False)
  kill_after = np.random.default_rng().integers(5, 14)  # a random step past the first checkpoint
  metrics = tmp_path / "killed" / "metrics.jsonl"
  deadline = time.time() + 240
  while time.time() < deadline and proc.poll() is None:
    if metrics.exists() and sum(1 for l in open(metrics) if '"train"' in l) >= kill_after:
      break
    time.sleep(0.05)
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  _run_cli(tmp_path / "killed", dataset, 8, extra)
  for a, b in zip(_params(tmp_path / "straight"), _params(tmp_path / "killed")):
    np.testing.assert_array_equal(a, b)


def test_sigterm_saves_and_exits_cleanly(dataset, tmp_path):
  proc = _run_cli(tmp_path, dataset, 8, ["--config.num_epochs=50"], wait=False)
  metrics = tmp_path / "metrics.jsonl"
  deadline = time.time() + 120
  while time.time() < deadline:
    if metrics.exists() and sum(1 for l in open(metrics) if '"train"' in l) >= 6:
      break
    time.sleep(0.05)
  start = time.time()
  proc.send_signal(signal.SIGTERM)
  out, _ = proc.communicate(timeout=60)
  assert proc.returncode == 0, out
  assert time.time() - start < 30
  assert "exiting for preemption" in out
  ckpt = checkpointing.Checkpointer(str(tmp_path), read_only=True)
  saved = ckpt.latest_step()
  ckpt.close()
  assert saved >= 6
  out = _run_cli(tmp_path, dataset, 8, ["--config.num_epochs=3"]) if saved < 12 else ""
  if out:
    assert f"resuming from checkpoint at step {saved}" in out


def test_two_processes_match_one(dataset, tmp_path):
  import portpicker
  port = portpicker.pick_unused_port()
  no_dropout = ["--config.model_kwargs.dropout_rates=(0.0,)", "--config.model_kwargs.batch_norm=True",
                "--config.num_epochs=2"]
  procs = [_run_cli(tmp_path / "two", dataset, 4,
                    no_dropout + [f"--coordinator_address=127.0.0.1:{port}", "--num_processes=2",
                                  f"--process_id={i}"], wait=False) for i in range(2)]
  outs = [p.communicate(timeout=300)[0] for p in procs]
  for p, out in zip(procs, outs):
    assert p.returncode == 0, out
  assert "on 8 devices (2 processes)" in outs[0]
  _run_cli(tmp_path / "one", dataset, 8, no_dropout)
  a = [r["loss"] for r in _records(tmp_path / "one", "train")]
  b = [r["loss"] for r in _records(tmp_path / "two", "train")]
  np.testing.assert_allclose(a, b, rtol=2e-4, atol=1e-5)
  # Parameters are compared through what they compute: a conv bias right before
  # BatchNorm gets a gradient of pure rounding noise, which Adam scales to full steps.
  a = [r["loss"] for r in _records(tmp_path / "one", "val")]
  b = [r["loss"] for r in _records(tmp_path / "two", "val")]
  np.testing.assert_allclose(a, b, rtol=5e-3)
