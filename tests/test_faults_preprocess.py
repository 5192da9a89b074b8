"""Preprocessing faults, each injected for real: a worker process killed, the whole job killed, a
full disk (a file-size limit), a second job on the same output."""
import os
import pathlib
import signal

import pytest

import fault_injection as fi
from babycry_jax.data import owner_lock, schema, unfinished_builds
from conftest import REPO_ROOT
from preprocess import pipeline
from test_preprocess_pipeline import write_media

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def media(tmp_path_factory):
  root = tmp_path_factory.mktemp("media")
  for i in range(12):
    name = f"{'crying' if i % 2 else 'not_crying'}/clip{i}.{'wav' if i % 3 == 0 else 'mp4'}"
    write_media(root / name, 2.0, video=name.endswith(".mp4"), tone_hz=300.0 + 50 * i, seed=i)
  return root


def _args(media, output):
  return ["--input", media, "--output", output, "--num_shards", "1", "--window_s", "2",
          "--hop_s", "2", "--direct_num_workers", "2"]


@pytest.fixture(scope="module")
def undisturbed(media, tmp_path_factory):
  output = tmp_path_factory.mktemp("undisturbed") / "ds"
  code, out = fi.run("preprocess", _args(media, output))
  assert code == 0, out
  return output


def _assert_same_dataset(a: pathlib.Path, b: pathlib.Path):
  names = sorted(p.name for p in a.iterdir())
  assert sorted(p.name for p in b.iterdir()) == names
  for name in names:
    assert (a / name).read_bytes() == (b / name).read_bytes(), name


def _error_lines(out):
  return [line for line in out.splitlines() if line.startswith("error:")]


def _no_build_left(output: pathlib.Path):
  assert not output.exists()
  assert unfinished_builds.leftovers(str(output)) == []
  assert not list(output.parent.glob(f"**/{schema.METADATA_FILE}"))


def test_a_killed_worker_fails_the_job_in_one_line_and_a_rerun_gives_the_same_bytes(
    media, undisturbed, tmp_path):
  output = tmp_path / "ds"
  job = fi.start("preprocess", _args(media, output))
  fi.wait_for_line(job, " input ")   # a worker is decoding
  workers = fi.descendants_running(job.pid, "apache_beam.runners.worker.sdk_worker_main")
  assert workers
  os.kill(workers[0], signal.SIGKILL)
  out, _ = job.communicate(timeout=300)
  fi.assert_no_traceback(out)
  if job.returncode != 0:   # the runner gave up: one clear line, nothing left behind
    errors = _error_lines(out)
    assert len(errors) == 1, out
    assert "the preprocessing job failed" in errors[0] and "no dataset was written" in errors[0]
    assert "run the same command again" in errors[0].lower()
    _no_build_left(output)
    code, out = fi.run("preprocess", _args(media, output))
    assert code == 0, out
  _assert_same_dataset(undisturbed, output)


def test_disk_full_exits_with_one_line_naming_the_path_and_no_metadata(media, tmp_path):
  output = tmp_path / "ds"
  code, out = fi.run("preprocess", _args(media, output),
                     preexec_fn=fi.file_size_limit(200_000))
  fi.assert_no_traceback(out)
  assert code == 1
  errors = _error_lines(out)
  assert len(errors) == 1, out
  assert f"File too large: '{tmp_path}/.ds.incomplete-" in errors[0]
  assert "free space first" in errors[0]
  _no_build_left(output)


def test_an_interrupted_job_is_never_taken_for_a_dataset(media, undisturbed, tmp_path):
  output = tmp_path / "ds"
  job = fi.start("preprocess", _args(media, output), preexec_fn=os.setsid)
  fi.wait_for_line(job, " input ")
  os.killpg(job.pid, signal.SIGKILL)   # launcher and workers at once, like a power cut
  job.communicate(timeout=60)
  assert not output.exists()
  leftover = unfinished_builds.leftovers(str(output))
  assert len(leftover) == 1

  env = fi.command_env()
  for module, args in [("babycry_jax.train", ["--config", REPO_ROOT / "tests" / "tiny_config.py",
                                              "--workdir", tmp_path / "run",
                                              f"--config.dataset_dir={output}"]),
                       ("preprocess.inspect_dataset", [output])]:
    code, out = fi.run(module, args, env=env)
    fi.assert_no_traceback(out)
    assert code == 1, out
    assert f"{output} is incomplete: a preprocessing job writing it did not finish" in out, out
    assert "python -m preprocess --input" in out and "again: it starts over" in out, out
  assert not (tmp_path / "run" / "checkpoints").exists()

  code, out = fi.run("preprocess", _args(media, output))
  assert code == 0, out
  assert f"removed {leftover[0]}, left by a preprocessing job that did not finish" in out
  assert unfinished_builds.leftovers(str(output)) == []
  _assert_same_dataset(undisturbed, output)


def test_a_second_job_on_the_same_output_is_refused_while_the_first_runs(media, tmp_path):
  output = tmp_path / "ds"
  running = unfinished_builds.staging_dir(str(output), "running")
  os.makedirs(running)
  lock = owner_lock.acquire(running + unfinished_builds.LOCK_SUFFIX, command="python -m preprocess")
  try:
    with pytest.raises(pipeline.PreprocessError, match="another preprocessing job is writing"):
      pipeline.build_dataset(str(media), str(output), num_shards=1, log=lambda line: None)
    assert os.path.isdir(running)
  finally:
    lock.release()
