"""`launch.sh run`, the unattended run, against the fake cloud (tests/fake_tpu/).

The first test trains for real behind the fake: the worker's venv python is this
interpreter, the workdir a folder outside the worker's home (the bucket), and the VM is
preempted mid-run, so the resume after it was re-created is a real one.
"""
import json
import os
import subprocess
import sys
import time

import synthetic_dataset
from launch_fakes import LAUNCH, NAME_ZONE, REPO_ROOT, make_git_tree

RUN = ["run", *NAME_ZONE, "--accelerator_type=v4-8", "--spot"]


def _train_rows(workdir):
  path = workdir / "metrics.jsonl"
  if not path.exists():
    return []
  return [r for r in map(json.loads, path.read_text().splitlines()) if r["kind"] == "train"]


def _checkpoint_steps(workdir):
  folder = workdir / "checkpoints"
  return sorted(int(p.name) for p in folder.iterdir() if p.name.isdigit()) if folder.exists() else []


def test_run_recreates_a_preempted_vm_and_resumes_from_the_workdir(fake, tmp_path):
  dataset = synthetic_dataset.write(str(tmp_path / "bucket" / "data"))
  workdir = tmp_path / "bucket" / "run"
  env = {"FAKE_REAL_PYTHON": sys.executable}
  args = [*RUN, "--config", "tests/tiny_config.py", "--workdir", str(workdir),
          "--dataset_dir", dataset, "--config.num_epochs=4",
          "--config.checkpoint_every_minutes=0.002", "--env", "JAX_PLATFORMS=cpu",
          "--env", "XLA_FLAGS=--xla_force_host_platform_device_count=2", "--poll_s=0.5",
          "--max_retries=2", "--", "--nodistributed"]  # one process: no TPU pod to join
  run = subprocess.Popen([str(LAUNCH), *args], cwd=tmp_path, env={**fake.env, **env},
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  try:
    deadline = time.monotonic() + 240
    # Preempted mid-run, once a checkpoint between epochs was written (4 steps an epoch).
    while not (len(_train_rows(workdir)) >= 6 and [s for s in _checkpoint_steps(workdir) if s % 4]):
      assert run.poll() is None and time.monotonic() < deadline, run.communicate()
      time.sleep(0.05)
    fake.preempt()
    steps_before = len(_train_rows(workdir))
    out, err = run.communicate(timeout=300)
  finally:
    if run.poll() is None:
      run.kill()
  assert run.returncode == 0, (out, err)
  assert "cry is PREEMPTED" in err and "retry 1 of 2" in err
  assert "cry is PREEMPTED: deleting it to create it again" in err
  assert "training finished on all 1 workers" in err
  verbs = [argv[3] for argv in fake.argvs() if argv[3] in ("create", "delete")]
  assert verbs == ["create", "delete", "create"]
  log = (fake.home() / "babycry_jax_logs" / "train.log").read_text()  # the new VM's
  resumed_at = int(log.split("resuming from checkpoint at step ")[1].split()[0])
  assert 0 < resumed_at <= steps_before
  assert _checkpoint_steps(workdir)[-1] == 16
  assert [r["step"] for r in _train_rows(workdir)][-1] == 16

  # The doctor and the evaluation on the same (re-created) worker, for real too.
  doctor = fake.run_ok("doctor", *NAME_ZONE, "--workdir", str(workdir), "--platform=cpu", "--",
                       "--nodistributed", extra_env={**env, "JAX_PLATFORMS": "cpu"})
  assert "ok   Python 3." in doctor.stdout and "ready to train" in doctor.stdout
  evaluation = fake.run_ok("eval", *NAME_ZONE, "--workdir", str(workdir), "--env", "JAX_PLATFORMS=cpu",
                           extra_env=env)
  assert (workdir / "eval" / "test" / "metrics.json").is_file(), evaluation.stderr


def _run(fake, tmp_path, *extra, workdir="gs://b/r", **env):
  """launch.sh run from a small tree whose workers' trainer is a fake (FAKE_TRAINER)."""
  tree = tmp_path / "tree"
  if not tree.exists():
    make_git_tree(tmp_path)
  return fake.run(*RUN, "--config=c.py", f"--workdir={workdir}", "--poll_s=0.05", *extra,
                  launch=tree / "launch.sh", extra_env=env)


def test_run_stops_when_the_trainer_itself_failed_on_every_worker(fake, tmp_path):
  result = _run(fake, tmp_path, FAKE_TRAINER="exit:1")
  assert result.returncode == 1
  assert "training failed on every worker with exit status 1" in result.stderr
  assert "trainer exits 1" in result.stdout  # the log's end, shown
  assert [argv[3] for argv in fake.argvs()].count("create") == 1


def test_run_gives_up_when_the_retries_are_spent(fake, tmp_path):
  result = _run(fake, tmp_path, "--max_retries=1", FAKE_TRAINER="exit:3")
  assert result.returncode == 1
  assert f"training ended on 1 of 1 workers ({os.uname().nodename}: failed 3); retry 1 of 1" \
      in result.stderr
  assert "giving up after 1 retries" in result.stderr
  assert [argv[3] for argv in fake.argvs()].count("create") == 1  # the VM itself was fine


def test_run_replaces_a_vm_whose_host_stopped_answering(fake, tmp_path):
  make_git_tree(tmp_path)
  run = subprocess.Popen([str(tmp_path / "tree" / "launch.sh"), *RUN, "--config=c.py",
                          "--workdir=gs://b/r", "--poll_s=0.05"],
                         env={**fake.env, "FAKE_WORKERS": "2", "FAKE_TRAINER": "sleep:6"},
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  try:
    pid_file = fake.home(1) / "babycry_jax_logs" / "train.pid"
    deadline = time.monotonic() + 60
    while not pid_file.exists():
      assert run.poll() is None and time.monotonic() < deadline, run.communicate()
      time.sleep(0.05)
    (fake.home(1) / "unreachable").touch()  # worker 1 goes down; the node stays READY
    out, err = run.communicate(timeout=120)
  finally:
    if run.poll() is None:
      run.kill()
  assert run.returncode == 0, (out, err)
  assert "1 of 2 workers answered (3 of 3)" in err
  assert "1 of 2 workers stopped answering; retry 1 of 5" in err
  assert "deleting cry to create it again" in err
  verbs = [argv[3] for argv in fake.argvs() if argv[3] in ("create", "delete")]
  assert verbs == ["create", "delete", "create"]
  assert "training finished on all 2 workers" in err


def test_run_through_a_queued_resource_and_delete_when_done(fake, tmp_path):
  result = _run(fake, tmp_path, "--queued", "--delete_when_done", FAKE_TRAINER="exit:0",
                FAKE_QUEUED_STATES="WAITING_FOR_RESOURCES,ACTIVE")
  assert result.returncode == 0, result.stderr
  assert "queued resource cry: WAITING_FOR_RESOURCES" in result.stderr
  assert "training finished on all 1 workers" in result.stderr
  assert fake.argvs()[-1][2:4] == ["queued-resources", "delete"]
  assert fake.node() is None


def test_run_adopts_training_that_runs_and_ends_when_it_is_stopped(fake, tmp_path):
  tree = make_git_tree(tmp_path)
  launch = tree / "launch.sh"
  fake.add_node()
  fake.run_ok("setup", *NAME_ZONE, launch=launch)
  fake.run_ok("train", *NAME_ZONE, "--config=c.py", "--workdir=gs://b/r", launch=launch)
  run = subprocess.Popen([str(launch), *RUN, "--config=c.py", "--workdir=gs://b/r",
                          "--poll_s=0.2"], env=fake.env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
  try:
    time.sleep(2)
    fake.run_ok("stop", *NAME_ZONE, "--grace_s=5", launch=launch)
    out, err = run.communicate(timeout=60)
  finally:
    if run.poll() is None:
      run.kill()
  assert run.returncode == 1
  assert "training is already running on all 1 workers: watching it" in err
  assert "training was stopped with 'launch.sh stop'" in err
  assert [argv[3] for argv in fake.argvs()].count("create") == 0


def test_run_warns_about_a_workdir_a_new_vm_cannot_see(fake, tmp_path):
  result = _run(fake, tmp_path, workdir="runs/local", FAKE_TRAINER="exit:0")
  assert result.returncode == 0
  assert "warning: --workdir runs/local is not a gs:// URL" in result.stderr


def test_the_doctor_says_what_fails_and_exits_1(tmp_path):
  blocked = tmp_path / "a_file"
  blocked.write_text("")
  result = subprocess.run(
      [sys.executable, "-m", "babycry_jax.doctor", "--platform=tpu", f"--workdir={blocked}/run"],
      cwd=REPO_ROOT, env=dict(os.environ, JAX_PLATFORMS="cpu"), capture_output=True, text=True,
      timeout=120)
  assert result.returncode == 1
  assert "ok   Python 3." in result.stdout
  assert "cpu devices (cpu); expected tpu (is libtpu installed?)" in result.stdout
  assert f"FAIL cannot write {blocked}/run" in result.stdout
  assert result.stdout.rstrip().endswith("FAIL not ready") and "Traceback" not in result.stderr
