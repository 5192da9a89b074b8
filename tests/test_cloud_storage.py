"""Training and evaluation with the dataset and the workdir in a gs:// bucket.

The bucket is a local Cloud Storage emulator: gcsfs (dataset, metrics, config,
evaluation outputs), tensorstore (Orbax checkpoints) and google-cloud-storage
(TensorBoard) all talk to it over HTTP as they would to the real service.
"""
import json
import os
import socket
import subprocess
import sys
import time

import pytest

import synthetic_dataset
from test_preprocess_pipeline import write_media

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUCKET = "babycry-test"

gcsfs = pytest.importorskip("gcsfs")
pytest.importorskip("gcp_storage_emulator", reason="the Cloud Storage emulator is a dev dependency")


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
  port = _free_port()
  log_path = tmp_path_factory.mktemp("emulator") / "log"
  with open(log_path, "w") as log:
    server = subprocess.Popen(
        [sys.executable, os.path.join(REPO, "tests", "gcs_emulator.py"), "start", "--host", "127.0.0.1",
         "--port", str(port), "--in-memory", "--default-bucket", BUCKET],
        stdout=log, stderr=subprocess.STDOUT)
  url = f"http://127.0.0.1:{port}"
  deadline = time.time() + 120  # generous: the suite's other worker may hold both cores
  while True:
    try:
      socket.create_connection(("127.0.0.1", port), timeout=1).close()
      break
    except OSError:
      if time.time() > deadline or server.poll() is not None:
        server.kill()
        pytest.fail(f"the Cloud Storage emulator did not start:\n{log_path.read_text()}")
      time.sleep(0.2)
  env = {"STORAGE_EMULATOR_HOST": url,           # gcsfs and google-cloud-storage
         "TENSORSTORE_GCS_HTTP_URL": url,        # Orbax's tensorstore
         "GOOGLE_AUTH_TOKEN_FOR_TESTING": "emulator",
         # The emulator has no gRPC control API for gcsfs to ask a bucket's type over.
         "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false"}
  yield env, gcsfs.core.GCSFileSystem(endpoint_url=url, token="anon")
  server.kill()
  server.wait()


@pytest.fixture(scope="module")
def bucket_dataset(emulator, tmp_path_factory):
  _, fs = emulator
  local = synthetic_dataset.write(str(tmp_path_factory.mktemp("ds") / "d"))
  fs.put(local, f"{BUCKET}/datasets/synthetic", recursive=True)
  return f"gs://{BUCKET}/datasets/synthetic"


def _run(module, env, *args, check=True):
  env = dict(os.environ, **env, PYTHONPATH=REPO, JAX_PLATFORMS="cpu",
             XLA_FLAGS="--xla_force_host_platform_device_count=2")
  proc = subprocess.run([sys.executable, "-m", module, *args], env=env, cwd=REPO,
                        capture_output=True, text=True, timeout=600)
  out = proc.stdout + proc.stderr
  if check:
    assert proc.returncode == 0, out
  return proc.returncode, out


def _train(env, dataset, workdir, epochs, check=True):
  return _run("babycry_jax.train", env, "--config", os.path.join(REPO, "tests", "tiny_config.py"),
              "--workdir", workdir, f"--config.dataset_dir={dataset}",
              f"--config.num_epochs={epochs}", check=check)


def test_an_upload_keeps_every_byte(emulator, tmp_path):
  # A shard whose last byte is "\r" once lost it in the emulator, and training found it cut short.
  _, fs = emulator
  for i, data in enumerate((b"record\r", b"\r\n", b"--==0==\r", bytes(range(256)))):
    (tmp_path / str(i)).write_bytes(data)
    fs.put_file(str(tmp_path / str(i)), f"{BUCKET}/bytes/{i}")
    assert fs.cat(f"{BUCKET}/bytes/{i}") == data


def test_trains_resumes_evaluates_and_detects_in_a_bucket(emulator, bucket_dataset, tmp_path):
  env, fs = emulator
  workdir = f"gs://{BUCKET}/runs/tiny"
  _train(env, bucket_dataset, workdir, epochs=1)
  steps = sorted(int(p.rsplit("/", 1)[1]) for p in fs.ls(f"{BUCKET}/runs/tiny/checkpoints")
                 if p.rsplit("/", 1)[1].isdigit())
  assert steps == [4]
  config = json.loads(fs.cat(f"{BUCKET}/runs/tiny/config.json"))
  assert config["dataset_dir"] == bucket_dataset

  _, out = _train(env, bucket_dataset, workdir, epochs=2)
  assert "resuming from checkpoint at step 4" in out
  lines = [json.loads(l) for l in fs.cat(f"{BUCKET}/runs/tiny/metrics.jsonl").decode().splitlines()]
  assert [r["step"] for r in lines if r["kind"] == "train"] == list(range(1, 9))
  assert fs.ls(f"{BUCKET}/runs/tiny/tensorboard")

  _run("babycry_jax.evaluate", env, "--workdir", workdir, "--split", "test")
  metrics = json.loads(fs.cat(f"{BUCKET}/runs/tiny/eval/test/metrics.json"))
  assert metrics["checkpoint_step"] in (4, 8) and 0.0 <= metrics["f1"] <= 1.0
  assert fs.cat(f"{BUCKET}/runs/tiny/eval/test/roc.png").startswith(b"\x89PNG")

  clip = write_media(tmp_path / "clip.mp4", 2.0)
  _run("babycry_jax.detect", env, "--workdir", workdir, "--output_dir", str(tmp_path / "out"),
       str(clip))
  detection = json.loads((tmp_path / "out" / "clip.json").read_text())
  assert detection["workdir"] == workdir and detection["checkpoint_step"] in (4, 8)


def test_missing_bucket_dataset_says_how_to_make_one(emulator):
  env, _ = emulator
  code, out = _train(env, f"gs://{BUCKET}/datasets/absent", f"gs://{BUCKET}/runs/absent",
                     epochs=1, check=False)
  assert code != 0
  assert f"no dataset at gs://{BUCKET}/datasets/absent" in out
  assert f"python -m preprocess --input MEDIA --output gs://{BUCKET}/datasets/absent" in out


def _media(folder, count=10):
  for i in range(count):
    name = f"{'crying' if i % 2 else 'not_crying'}/clip{i}.{'mp4' if i < 6 else 'wav'}"
    write_media(folder / name, 2.0, video=name.endswith(".mp4"), tone_hz=300.0 + 50 * i, seed=i)
  return folder


def test_preprocess_writes_a_dataset_into_the_bucket(emulator, tmp_path):
  env, fs = emulator
  media = _media(tmp_path / "media")
  common = ["--input", str(media), "--num_shards", "1", "--preset", "paper"]
  _run("preprocess", env, *common, "--direct_num_workers", "1", "--output", str(tmp_path / "local"))
  url = f"gs://{BUCKET}/datasets/built"
  # Two worker processes write the shards into the bucket through Beam's FileSystems.
  _run("preprocess", env, *common, "--direct_num_workers", "2", "--output", url)

  local = sorted(p.name for p in (tmp_path / "local").iterdir())
  remote = sorted(p.rsplit("/", 1)[1] for p in fs.ls(f"{BUCKET}/datasets/built"))
  assert remote == local
  for name in local:
    if name != "metadata.json":
      assert fs.cat(f"{BUCKET}/datasets/built/{name}") == (tmp_path / "local" / name).read_bytes(), name

  code, out = _run("preprocess", env, *common, "--output", url, check=False)
  assert code == 1 and "--overwrite" in out


def test_on_the_portable_path_the_launcher_writes_only_metadata(emulator, tmp_path, monkeypatch):
  from babycry_jax.data import storage, tfrecord_codec
  from preprocess import local_cluster, pipeline
  env, fs = emulator
  for key, value in env.items():
    monkeypatch.setenv(key, value)   # before the cluster starts: its workers inherit them

  def no_framing_here(*args, **kwargs):
    raise AssertionError("the launcher framed a record")

  written = []
  write_bytes = storage.write_bytes
  monkeypatch.setattr(tfrecord_codec, "write_record", no_framing_here)
  monkeypatch.setattr(storage, "write_bytes", lambda path, data: (written.append(path), write_bytes(path, data)))
  media = _media(tmp_path / "media", count=6)
  url = f"gs://{BUCKET}/datasets/portable"
  with local_cluster.LocalCluster() as cluster:
    summary = pipeline.build_dataset(str(media), url, num_shards=1, pipeline_args=cluster.pipeline_args(),
                                     log=lambda s: None)
  assert [storage.basename(p) for p in written] == ["dataset_info.json", "metadata.json"]
  names = {p.rsplit("/", 1)[1] for p in fs.ls(f"{BUCKET}/datasets/portable")}
  for split, info in summary["splits"].items():
    for shard in info["shards"]:
      assert {shard, shard + ".index"} <= names
  assert {"errors.jsonl", "features.json", "metadata.json"} <= names
  assert not any(n.startswith("_") for n in names)   # the job summary was read and removed


def test_a_manifest_of_bucket_media_is_decoded_by_the_workers(emulator, tmp_path, monkeypatch):
  from preprocess import pipeline
  env, fs = emulator
  for key, value in env.items():
    monkeypatch.setenv(key, value)
  media = _media(tmp_path / "media", count=4)
  fs.put(str(media), f"{BUCKET}/media", recursive=True)
  rows = [f"gs://{BUCKET}/media/{p.parent.name}/{p.name},{p.parent.name}" for p in sorted(media.rglob("*.*"))]
  rows.append(f"gs://{BUCKET}/media/crying/absent.mp4,crying")
  manifest = tmp_path / "manifest.csv"
  manifest.write_text("path,label\n" + "\n".join(rows) + "\n")
  out = tmp_path / "ds"
  summary = pipeline.build_dataset(str(manifest), str(out), num_shards=1, split_fractions=(1.0, 0.0, 0.0),
                                   direct_num_workers=1, log=lambda s: None)
  assert summary["num_records"] == 4
  errors = [json.loads(line) for line in (out / "errors.jsonl").read_text().splitlines()]
  assert [(e["path"], e["reason"]) for e in errors] == [(f"gs://{BUCKET}/media/crying/absent.mp4", "unreadable_path")]
  assert "babycry_media_" not in errors[0]["detail"]
