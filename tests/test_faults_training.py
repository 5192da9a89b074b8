"""Training faults, each injected for real: a full disk while a checkpoint is written, a checkpoint
cut short or altered on disk, a second trainer on one workdir, a trainer killed with its lock."""
import glob
import json
import os
import signal
import socket

import jax
import numpy as np
import pytest

import fault_injection as fi
import synthetic_dataset
from babycry_jax import checkpointing, runs, trainer
from conftest import REPO_ROOT
from test_train import _config

CONFIG = str(REPO_ROOT / "tests" / "tiny_config.py")
# A wider dense layer makes the checkpoint's largest file about 1 MB, far above the limit
# below, while metrics.jsonl, the TensorBoard events and config.json stay a few KB.
WIDE = "--config.model_kwargs.dense_features=(2048,)"
FILE_LIMIT_BYTES = 300_000


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
  return synthetic_dataset.write(str(tmp_path_factory.mktemp("ds") / "d"))


def _train_args(workdir, dataset, epochs, *extra):
  return ["--config", CONFIG, "--workdir", workdir, f"--config.dataset_dir={dataset}",
          f"--config.num_epochs={epochs}", *extra]


def _train(workdir, dataset, epochs, *extra, preexec_fn=None, check=True):
  code, out = fi.run("babycry_jax.train", _train_args(workdir, dataset, epochs, *extra),
                     preexec_fn=preexec_fn)
  fi.assert_no_traceback(out)
  if check:
    assert code == 0, out
  return code, out


def _params(workdir, which="latest"):
  return jax.tree.leaves(runs.load_run(str(workdir), which).state.params)


def _assert_same_params(a, b):
  for x, y in zip(_params(a), _params(b)):
    np.testing.assert_array_equal(x, y)


def _steps(workdir):
  ckpt = checkpointing.Checkpointer(str(workdir), read_only=True)
  try:
    return sorted(ckpt.steps())
  finally:
    ckpt.close()


@pytest.mark.slow
def test_disk_full_while_checkpointing_keeps_the_last_one_and_resumes_bit_identical(dataset, tmp_path):
  straight, broken = str(tmp_path / "straight"), str(tmp_path / "full")
  _train(straight, dataset, 2, WIDE)
  _train(broken, dataset, 1, WIDE)
  code, out = _train(broken, dataset, 2, WIDE, preexec_fn=fi.file_size_limit(FILE_LIMIT_BYTES),
                     check=False)
  assert code == 1, out
  stop = [line for line in out.splitlines() if "training stopped:" in line]
  assert len(stop) == 1, out
  assert "checkpoint at step 8 could not be written" in stop[0]
  assert "File too large" in stop[0] and "free space first" in stop[0]
  assert "the newest complete checkpoint, step 4, is intact" in stop[0]
  assert _steps(broken) == [4]
  assert not os.path.exists(os.path.join(broken, trainer.LOCK_FILE))

  # Space freed: the same command resumes from step 4 and ends where an undisturbed run ends.
  _, out = _train(broken, dataset, 2, WIDE)
  assert "resuming from checkpoint at step 4" in out
  _assert_same_params(straight, broken)


def _largest_file(folder):
  return max((p for p in glob.glob(os.path.join(folder, "**"), recursive=True) if os.path.isfile(p)),
             key=os.path.getsize)


def _flip_byte(path):
  with open(path, "r+b") as f:
    f.seek(os.path.getsize(path) // 2)
    byte = f.read(1)
    f.seek(-1, os.SEEK_CUR)
    f.write(bytes([byte[0] ^ 0xFF]))


def test_a_flipped_byte_is_found_before_anything_is_restored(dataset, tmp_path):
  trainer.train_and_evaluate(_config(dataset, num_epochs=1), str(tmp_path))
  ckpt = checkpointing.Checkpointer(str(tmp_path), read_only=True)
  assert ckpt.problem(4) is None
  ckpt.close()
  _flip_byte(_largest_file(str(tmp_path / "checkpoints" / "4" / "state" / "ocdbt.process_0" / "d")))
  with pytest.raises(checkpointing.DamagedCheckpoint,
                     match=r"step 4 .* is damaged \(state/.* SHA-256 differs\); no other"):
    runs.load_run(str(tmp_path), "latest")


@pytest.mark.slow
def test_a_checkpoint_cut_short_is_set_aside_and_training_resumes_from_the_one_before(
    dataset, tmp_path, caplog):
  straight, cut = str(tmp_path / "straight"), str(tmp_path / "cut")
  trainer.train_and_evaluate(_config(dataset, num_epochs=3), straight)
  trainer.train_and_evaluate(_config(dataset, num_epochs=2), cut)
  assert _steps(cut) == [4, 8]
  victim = _largest_file(os.path.join(cut, "checkpoints", "8", "state"))
  os.truncate(victim, os.path.getsize(victim) // 2)   # a power loss before the data reached disk

  # evaluate (and detect: both load a run) never read it silently.
  code, out = fi.run("babycry_jax.evaluate", ["--workdir", cut, "--checkpoint", "latest"])
  fi.assert_no_traceback(out)
  assert code == 1
  assert "checkpoint at step 8" in out and "is damaged" in out and "intact checkpoints: steps 4" in out

  caplog.clear()
  trainer.train_and_evaluate(_config(dataset, num_epochs=3), cut)
  err = caplog.text
  assert "checkpoint at step 8 is damaged" in err and "bytes where" in err
  assert "resuming from checkpoint at step 4" in err
  assert os.listdir(os.path.join(cut, checkpointing.DAMAGED_DIR)) == ["8"]
  _assert_same_params(straight, cut)


@pytest.mark.slow
def test_a_second_trainer_is_refused_and_a_killed_one_leaves_no_stuck_lock(dataset, tmp_path):
  workdir = str(tmp_path / "run")
  first = fi.start("babycry_jax.train", _train_args(workdir, dataset, 5000))
  try:
    fi.wait_for_line(first, "step 1/")
    lock = json.loads(open(os.path.join(workdir, trainer.LOCK_FILE)).read())
    assert (lock["host"], lock["pid"]) == (socket.gethostname(), first.pid)
    config_path = os.path.join(workdir, runs.CONFIG_FILE)
    config_before = open(config_path).read()

    code, out = _train(workdir, dataset, 1, check=False)
    assert code == 1
    assert f"is in use by another trainer (host {socket.gethostname()}, pid {first.pid}, since" in out
    assert open(config_path).read() == config_before   # refused before writing anything
    assert first.poll() is None
  finally:
    first.send_signal(signal.SIGKILL)
    first.wait()
  # The killed trainer's lock file is still there, naming it, but holds nobody.
  assert os.path.exists(os.path.join(workdir, trainer.LOCK_FILE))
  _, out = _train(workdir, dataset, 1)
  assert "in use" not in out
  assert not os.path.exists(os.path.join(workdir, trainer.LOCK_FILE))
