"""Faults of a run in a bucket (the Cloud Storage emulator): the bucket unreachable for 40 s in the
middle of training, a second trainer on a gs:// workdir, a lock left by a machine that is gone,
an unfinished dataset in a bucket."""
import json
import os
import socket
import subprocess
import sys
import time

import pytest

import fault_injection as fi
import synthetic_dataset
from babycry_jax import trainer
from conftest import REPO_ROOT

gcsfs = pytest.importorskip("gcsfs")
pytest.importorskip("gcp_storage_emulator", reason="the Cloud Storage emulator is a dev dependency")

BUCKET = "babycry-faults"
CONFIG = str(REPO_ROOT / "tests" / "tiny_config.py")
OUTAGE_S = 40


class Emulator:
  """The emulator in a process of its own, its objects on disk, so it can stop and come back."""

  def __init__(self, folder):
    with socket.socket() as s:
      s.bind(("127.0.0.1", 0))
      self.port = s.getsockname()[1]
    self.folder, self.process = folder, None
    self.url = f"http://127.0.0.1:{self.port}"
    self.env = fi.command_env(STORAGE_EMULATOR_HOST=self.url, TENSORSTORE_GCS_HTTP_URL=self.url,
                              GOOGLE_AUTH_TOKEN_FOR_TESTING="emulator",
                              GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT="false")
    self.start()
    self.fs = gcsfs.core.GCSFileSystem(endpoint_url=self.url, token="anon")

  def start(self):
    with open(os.path.join(self.folder, "emulator.log"), "a") as log:
      self.process = subprocess.Popen(
          [sys.executable, str(REPO_ROOT / "tests" / "gcs_emulator.py"), "start", "--host",
           "127.0.0.1", "--port", str(self.port), "--default-bucket", BUCKET],
          stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ, STORAGE_BASE=self.folder))
    deadline = time.time() + 120
    while True:
      try:
        socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
        return
      except OSError:
        if time.time() > deadline or self.process.poll() is not None:
          raise RuntimeError("the Cloud Storage emulator did not start")
        time.sleep(0.2)

  def stop(self):
    self.process.kill()
    self.process.wait()


@pytest.fixture(scope="module")
def bucket(tmp_path_factory):
  emulator = Emulator(str(tmp_path_factory.mktemp("bucket")))
  local = synthetic_dataset.write(str(tmp_path_factory.mktemp("ds") / "d"))
  emulator.fs.put(local, f"{BUCKET}/ds", recursive=True)
  emulator.local_dataset = local
  yield emulator
  emulator.stop()


def _train_args(workdir, dataset, epochs):
  return ["--config", CONFIG, "--workdir", workdir, f"--config.dataset_dir={dataset}",
          f"--config.num_epochs={epochs}"]


def _losses(lines):
  """{step: loss} of the train records (a step trained twice keeps its last record)."""
  return {r["step"]: r["loss"] for r in map(json.loads, lines) if r["kind"] == "train"}


def _predictions(env, workdir, read):
  code, out = fi.run("babycry_jax.evaluate", ["--workdir", workdir, "--split", "validation",
                                              "--checkpoint", "latest"], env=env)
  assert code == 0, out
  return read(f"{workdir}/eval/validation/predictions.csv")


@pytest.mark.slow
def test_a_bucket_that_stops_answering_mid_run_loses_nothing(bucket, tmp_path):
  epochs, workdir = 6, f"gs://{BUCKET}/outage"
  reference = str(tmp_path / "reference")
  code, out = fi.run("babycry_jax.train", _train_args(reference, bucket.local_dataset, epochs))
  assert code == 0, out

  run = fi.start("babycry_jax.train", _train_args(workdir, f"gs://{BUCKET}/ds", epochs), env=bucket.env)
  lines = fi.wait_for_line(run, "step 6/")   # past the first checkpoint's start
  bucket.stop()
  time.sleep(OUTAGE_S)
  bucket.start()
  out = "".join(lines) + run.communicate(timeout=600)[0]
  fi.assert_no_traceback(out)
  if run.returncode != 0:   # it stopped clearly rather than going on
    stops = [line for line in out.splitlines() if "training stopped:" in line]
    assert len(stops) == 1, out
    assert "the bucket did not answer" in stops[0].lower() and "run the same command again" in stops[0]
    code, out = fi.run("babycry_jax.train", _train_args(workdir, f"gs://{BUCKET}/ds", epochs),
                       env=bucket.env)
    fi.assert_no_traceback(out)
    assert code == 0, out

  # Every step is in the metrics, each with the loss of the undisturbed run; so is the model.
  with open(os.path.join(reference, "metrics.jsonl")) as f:
    expected = _losses(f)
  found = _losses(bucket.fs.cat(f"{BUCKET}/outage/metrics.jsonl").decode().splitlines())
  assert found == expected
  assert (_predictions(bucket.env, workdir, lambda p: bucket.fs.cat(p[len("gs://"):]))
          == _predictions(fi.command_env(), reference, lambda p: open(p, "rb").read()))


def _lock_object(fs, workdir, **holder):
  fs.pipe(f"{workdir[len('gs://'):]}/{trainer.LOCK_FILE}", json.dumps(holder).encode())


@pytest.mark.slow
def test_a_gs_workdir_held_by_a_live_trainer_is_refused_and_a_silent_one_taken_over(bucket):
  workdir = f"gs://{BUCKET}/locked"
  now = time.time()
  _lock_object(bucket.fs, workdir, host=socket.gethostname(), pid=os.getpid(), since=now,
               heartbeat=now)
  code, out = fi.run("babycry_jax.train", _train_args(workdir, f"gs://{BUCKET}/ds", 1), env=bucket.env)
  fi.assert_no_traceback(out)
  assert code == 1
  assert f"is in use by another trainer (host {socket.gethostname()}, pid {os.getpid()}" in out
  assert not bucket.fs.exists(f"{BUCKET}/locked/config.json")

  # A trainer on a machine that was replaced: silent for an hour.
  _lock_object(bucket.fs, workdir, host="a-preempted-vm", pid=1, since=now - 7200,
               heartbeat=now - 3600)
  code, out = fi.run("babycry_jax.train", _train_args(workdir, f"gs://{BUCKET}/ds", 1), env=bucket.env)
  assert code == 0, out
  assert not bucket.fs.exists(f"{BUCKET}/locked/{trainer.LOCK_FILE}")
  assert bucket.fs.exists(f"{BUCKET}/locked/checkpoints/4/digest.json")


def test_an_unfinished_dataset_in_a_bucket_is_never_taken_for_one(bucket, tmp_path):
  shard = next(n for n in os.listdir(bucket.local_dataset) if n.startswith("babycry-train"))
  bucket.fs.put(os.path.join(bucket.local_dataset, shard), f"{BUCKET}/half/{shard}")
  code, out = fi.run("babycry_jax.train", _train_args(str(tmp_path / "run"), f"gs://{BUCKET}/half", 1),
                     env=bucket.env)
  fi.assert_no_traceback(out)
  assert code == 1
  assert f"gs://{BUCKET}/half is incomplete: a preprocessing job writing it did not finish" in out
