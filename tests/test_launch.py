"""Tests of launch.sh against a fake `gcloud` that records its argv.

The fake can also play one TPU worker: with FAKE_WORKER_HOME set it copies scp'd
files into that folder and runs ssh --command scripts there with bash, so the
remote setup/train/stop scripts are exercised for real on this machine.
"""
import json
import os
import pathlib
import shlex
import signal
import subprocess
import sys
import time

import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
LAUNCH = REPO_ROOT / "launch.sh"

FAKE_GCLOUD = f"""#!{sys.executable}
import json, os, shutil, subprocess, sys, tarfile

argv = sys.argv[1:]
record = {{"argv": argv}}
for arg in argv:
  if arg.endswith(".tar.gz") and os.path.isfile(arg):
    with tarfile.open(arg) as archive:
      record["tar_members"] = sorted(
          m.name.removeprefix("./") for m in archive.getmembers() if m.isfile())
with open(os.environ["FAKE_GCLOUD_LOG"], "a") as log:
  log.write(json.dumps(record) + "\\n")
home = os.environ.get("FAKE_WORKER_HOME")
status = 0
if home and argv[:4] == ["compute", "tpus", "tpu-vm", "scp"]:
  shutil.copy(argv[4], os.path.join(home, argv[5].split(":", 1)[1]))
elif home and argv[:4] == ["compute", "tpus", "tpu-vm", "ssh"]:
  script = next(a[len("--command="):] for a in argv if a.startswith("--command="))
  status = subprocess.run(["bash", "-c", script], cwd=home,
                          env=dict(os.environ, HOME=home)).returncode
sys.exit(status)
"""

# Stands in for Python on a worker: makes venvs, records pip, and "trains" until SIGTERM.
FAKE_PYTHON = """#!/usr/bin/env bash
echo "$*" >> "$FAKE_PYTHON_LOG"
if [ "$1" = -m ] && [ "$2" = venv ]; then mkdir -p "$3/bin"; cp "$0" "$3/bin/python"; exit 0; fi
if [ "$1" = -m ] && [ "$2" = pip ]; then exit 0; fi
if [ "$1" = -m ] && [ "$2" = babycry_jax.train ]; then
  trap 'echo "got SIGTERM, saving"; exit 0' TERM
  echo "training in $(pwd) with: $*"
  while true; do sleep 0.05; done
fi
echo "fake python ran: $*"
"""

NAME_ZONE = ["--name", "cry", "--zone", "us-central2-b"]


@pytest.fixture
def fake(tmp_path):
  """Puts a fake gcloud first on PATH; returns a helper namespace."""
  bin_dir = tmp_path / "bin"
  bin_dir.mkdir()
  gcloud = bin_dir / "gcloud"
  gcloud.write_text(FAKE_GCLOUD)
  gcloud.chmod(0o755)
  log = tmp_path / "gcloud_calls.jsonl"
  log.touch()
  env = {k: v for k, v in os.environ.items()
         if not k.startswith("BABYCRY_TPU_") and k not in ("GCLOUD", "PYTHON")}
  env.update(PATH=f"{bin_dir}{os.pathsep}{env['PATH']}", FAKE_GCLOUD_LOG=str(log))

  class Fake:
    log_path = log
    gcloud_path = gcloud

    @staticmethod
    def run(*args, extra_env=None, launch=LAUNCH, cwd=tmp_path):
      return subprocess.run([str(launch), *args], capture_output=True, text=True, cwd=cwd,
                            env={**env, **(extra_env or {})}, timeout=60)

    @staticmethod
    def calls():
      return [json.loads(line) for line in log.read_text().splitlines()]

  return Fake


def run_ok(fake, *args, **kwargs):
  result = fake.run(*args, **kwargs)
  assert result.returncode == 0, result.stderr
  return result


def ssh_command(argv):
  """The --command=... script of a recorded `tpu-vm ssh` argv."""
  (script,) = [a[len("--command="):] for a in argv if a.startswith("--command=")]
  return script


# ------------------------------------------------------------------ create / delete


def test_create_tpu_vm_with_spot_and_project(fake):
  run_ok(fake, "create", *NAME_ZONE, "--accelerator_type", "v4-32",
         "--version", "tpu-ubuntu2204-base", "--spot", "--project", "my-proj")
  assert [c["argv"] for c in fake.calls()] == [[
      "compute", "tpus", "tpu-vm", "create", "cry", "--zone=us-central2-b",
      "--project=my-proj", "--accelerator-type=v4-32", "--version=tpu-ubuntu2204-base",
      "--spot"]]


def test_create_queued_resource_names_its_node_like_the_resource(fake):
  run_ok(fake, "create", *NAME_ZONE, "--accelerator_type=v5litepod-16",
         "--version=v2-alpha-tpuv5-lite", "--queued")
  assert [c["argv"] for c in fake.calls()] == [[
      "compute", "tpus", "queued-resources", "create", "cry", "--zone=us-central2-b",
      "--node-id=cry", "--accelerator-type=v5litepod-16",
      "--runtime-version=v2-alpha-tpuv5-lite"]]


def test_create_takes_defaults_from_environment(fake):
  run_ok(fake, "create", extra_env=dict(
      BABYCRY_TPU_NAME="envtpu", BABYCRY_TPU_ZONE="europe-west4-a",
      BABYCRY_TPU_PROJECT="envproj", BABYCRY_TPU_VERSION="v2-alpha-tpuv6e",
      BABYCRY_TPU_ACCELERATOR_TYPE="v6e-8"))
  assert [c["argv"] for c in fake.calls()] == [[
      "compute", "tpus", "tpu-vm", "create", "envtpu", "--zone=europe-west4-a",
      "--project=envproj", "--accelerator-type=v6e-8", "--version=v2-alpha-tpuv6e"]]


def test_gcloud_env_var_overrides_the_binary(fake, tmp_path):
  other = tmp_path / "my-gcloud"
  other.write_text(FAKE_GCLOUD.replace('"argv": argv', '"argv": ["OTHER"] + argv'))
  other.chmod(0o755)
  run_ok(fake, "delete", *NAME_ZONE, extra_env={"GCLOUD": str(other)})
  assert [c["argv"][0] for c in fake.calls()] == ["OTHER"]


@pytest.mark.parametrize("extra_args, expected_tail", [
    ([], ["tpu-vm", "delete", "cry", "--zone=us-central2-b"]),
    (["--yes"], ["tpu-vm", "delete", "cry", "--zone=us-central2-b", "--quiet"]),
    (["--queued", "--yes"],
     ["queued-resources", "delete", "cry", "--zone=us-central2-b", "--force", "--quiet"]),
])
def test_delete(fake, extra_args, expected_tail):
  run_ok(fake, "delete", *NAME_ZONE, *extra_args)
  assert [c["argv"] for c in fake.calls()] == [["compute", "tpus", *expected_tail]]


# ------------------------------------------------------------------ setup


def make_git_tree(tmp_path) -> pathlib.Path:
  """A small repository: committed, untracked and ignored files, plus launch.sh."""
  tree = tmp_path / "tree"
  (tree / "pkg").mkdir(parents=True)
  (tree / ".venv").mkdir()
  (tree / "launch.sh").write_bytes(LAUNCH.read_bytes())
  (tree / "launch.sh").chmod(0o755)
  (tree / "setup.py").write_text('INSTALL_REQUIRES = [\n    "jax==9.8.7",\n    "jaxlib==9.8.7",\n]\n')
  (tree / "pkg" / "__init__.py").write_text("")
  (tree / ".gitignore").write_text(".venv/\n/runs/\n")
  git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
  subprocess.run([*git, "init", "-q"], cwd=tree, check=True)
  subprocess.run([*git, "add", "."], cwd=tree, check=True)
  subprocess.run([*git, "commit", "-q", "-m", "init"], cwd=tree, check=True)
  (tree / "pkg" / "new_module.py").write_text("x = 1\n")  # untracked, not ignored
  (tree / ".venv" / "big.bin").write_text("ignored")
  (tree / "runs").mkdir()
  (tree / "runs" / "ckpt").write_text("ignored")
  return tree


def test_setup_copies_tree_to_all_workers_and_installs(fake, tmp_path):
  tree = make_git_tree(tmp_path)
  result = run_ok(fake, "setup", *NAME_ZONE, launch=tree / "launch.sh")
  scp, ssh = fake.calls()
  tarball = scp["argv"][4]
  assert tarball.endswith("/babycry_jax_src.tar.gz")
  assert scp["argv"] == ["compute", "tpus", "tpu-vm", "scp", tarball,
                         "cry:babycry_jax_src.tar.gz", "--zone=us-central2-b", "--worker=all"]
  assert scp["tar_members"] == [".gitignore", "launch.sh", "pkg/__init__.py",
                                "pkg/new_module.py", "setup.py"]
  assert not pathlib.Path(tarball).parent.exists(), "the local staging folder must be removed"
  assert ssh["argv"][:7] == ["compute", "tpus", "tpu-vm", "ssh", "cry",
                             "--zone=us-central2-b", "--worker=all"]
  script = ssh_command(ssh["argv"])
  assert "tar -xzf babycry_jax_src.tar.gz -C babycry_jax.new" in script
  assert "python3 -m venv babycry_jax_venv" in script
  assert "babycry_jax_venv/bin/python -m pip install --quiet -e ./babycry_jax 'jax[tpu]==9.8.7'" in script
  assert "git -C" in result.stderr  # real runs echo each command with a leading '+'


def test_setup_without_git_packs_tree_minus_caches(fake, tmp_path):
  tree = tmp_path / "copied"
  (tree / "pkg" / "__pycache__").mkdir(parents=True)
  (tree / ".venv").mkdir()
  (tree / "launch.sh").write_bytes(LAUNCH.read_bytes())
  (tree / "launch.sh").chmod(0o755)
  (tree / "setup.py").write_text("")
  (tree / "pkg" / "a.py").write_text("")
  (tree / "pkg" / "__pycache__" / "a.pyc").write_text("")
  (tree / ".venv" / "x").write_text("")
  (tree / "data").mkdir()
  (tree / "data" / "big.tfrecord").write_text("")
  run_ok(fake, "setup", *NAME_ZONE, launch=tree / "launch.sh", cwd=tree,
         extra_env={"GIT_CEILING_DIRECTORIES": str(tmp_path)})
  scp, ssh = fake.calls()
  assert scp["tar_members"] == ["launch.sh", "pkg/a.py", "setup.py"]
  assert "'jax[tpu]'" in ssh_command(ssh["argv"])  # no pin in setup.py: unpinned


# ------------------------------------------------------------------ train / logs / eval / stop


def test_train_runs_same_command_on_all_workers_in_background(fake):
  run_ok(fake, "train", *NAME_ZONE, "--config", "configs/default.py",
         "--workdir", "gs://bucket/runs/r1", "--dataset_dir", "gs://bucket/data/cry",
         "--config.num_epochs=3", "--config.model=cnn6", "--env", "TPU_STDERR_LOG_LEVEL=2",
         "--", "--alsologtostderr")
  (call,) = fake.calls()
  assert call["argv"][:7] == ["compute", "tpus", "tpu-vm", "ssh", "cry",
                              "--zone=us-central2-b", "--worker=all"]
  script = ssh_command(call["argv"])
  assert ('env TPU_STDERR_LOG_LEVEL=2 "$HOME"/babycry_jax_venv/bin/python -m babycry_jax.train '
          "--distributed --config=configs/default.py --workdir=gs://bucket/runs/r1 "
          "--config.dataset_dir=gs://bucket/data/cry --config.num_epochs=3 --config.model=cnn6 "
          '--alsologtostderr >> "$HOME"/babycry_jax_logs/train.log 2>&1 < /dev/null &') in script
  assert "setsid nohup" in script
  assert "cd babycry_jax;" in script


def test_train_quotes_overrides_with_spaces_and_quotes(fake):
  run_ok(fake, "train", *NAME_ZONE, "--config=configs/default.py", "--workdir=/tmp/w",
         "--config.note=it's a test")
  script = ssh_command(fake.calls()[0]["argv"])
  assert """'--config.note=it'"'"'s a test'""" in script


def test_logs_follows_worker_zero_by_default(fake):
  run_ok(fake, "logs", *NAME_ZONE)
  run_ok(fake, "logs", *NAME_ZONE, "--worker", "3", "--lines=20")
  assert [c["argv"] for c in fake.calls()] == [
      ["compute", "tpus", "tpu-vm", "ssh", "cry", "--zone=us-central2-b", "--worker=0",
       '--command=tail -n 100 -F "$HOME"/babycry_jax_logs/train.log'],
      ["compute", "tpus", "tpu-vm", "ssh", "cry", "--zone=us-central2-b", "--worker=3",
       '--command=tail -n 20 -F "$HOME"/babycry_jax_logs/train.log'],
  ]


def test_eval_runs_on_worker_zero(fake):
  run_ok(fake, "eval", *NAME_ZONE, "--workdir", "gs://b/r1", "--split", "test",
         "--checkpoint", "best", "--env", "JAX_PLATFORMS=cpu", "--project", "p")
  assert [c["argv"] for c in fake.calls()] == [[
      "compute", "tpus", "tpu-vm", "ssh", "cry", "--zone=us-central2-b", "--project=p",
      "--worker=0",
      '--command=cd "$HOME"/babycry_jax && env JAX_PLATFORMS=cpu '
      '"$HOME"/babycry_jax_venv/bin/python -m babycry_jax.evaluate --workdir=gs://b/r1 '
      "--split=test --checkpoint=best"]]


def test_stop_targets_all_workers(fake):
  run_ok(fake, "stop", *NAME_ZONE, "--grace_s", "7")
  (call,) = fake.calls()
  assert call["argv"][:7] == ["compute", "tpus", "tpu-vm", "ssh", "cry",
                              "--zone=us-central2-b", "--worker=all"]
  script = ssh_command(call["argv"])
  assert 'kill -TERM -- "-$group"' in script
  assert "[ $waited_s -lt 7 ]" in script


# ------------------------------------------------------------------ one simulated worker, end to end


def test_setup_train_stop_on_a_simulated_worker(fake, tmp_path):
  tree = make_git_tree(tmp_path)
  worker_home = tmp_path / "worker_home"
  worker_home.mkdir()
  fake_python = tmp_path / "fake_python"
  fake_python.write_text(FAKE_PYTHON)
  fake_python.chmod(0o755)
  python_log = tmp_path / "python_calls.txt"
  env = {"FAKE_WORKER_HOME": str(worker_home), "FAKE_PYTHON_LOG": str(python_log)}
  launch = tree / "launch.sh"
  pid_file = worker_home / "babycry_jax_logs" / "train.pid"
  train_log = worker_home / "babycry_jax_logs" / "train.log"
  try:
    run_ok(fake, "setup", *NAME_ZONE, "--python", str(fake_python), launch=launch, extra_env=env)
    assert (worker_home / "babycry_jax" / "pkg" / "new_module.py").is_file()
    assert not (worker_home / "babycry_jax_src.tar.gz").exists()
    assert (worker_home / "babycry_jax_venv" / "bin" / "python").is_file()
    assert "-m pip install --quiet -e ./babycry_jax jax[tpu]==9.8.7" in python_log.read_text()

    run_ok(fake, "train", *NAME_ZONE, "--config", "configs/default.py", "--workdir", "w 1",
           launch=launch, extra_env=env)
    group = int(pid_file.read_text())
    os.killpg(group, 0)  # raises if the trainer is not running
    deadline = time.monotonic() + 10
    while "training in" not in train_log.read_text() and time.monotonic() < deadline:
      time.sleep(0.05)
    assert (f"training in {worker_home / 'babycry_jax'} with: -m babycry_jax.train --distributed "
            "--config=configs/default.py --workdir=w 1") in train_log.read_text()

    again = fake.run("train", *NAME_ZONE, "--config", "c.py", "--workdir", "w",
                     launch=launch, extra_env=env)
    assert again.returncode == 1
    assert "already running" in again.stderr

    stopped = run_ok(fake, "stop", *NAME_ZONE, "--grace_s", "10", launch=launch, extra_env=env)
    assert "training stopped" in stopped.stdout
    assert "got SIGTERM, saving" in train_log.read_text()
    assert not pid_file.exists()
    with pytest.raises(ProcessLookupError):
      os.killpg(group, 0)

    nothing = run_ok(fake, "stop", *NAME_ZONE, launch=launch, extra_env=env)
    assert "no training was started here" in nothing.stdout
  finally:
    if pid_file.exists():  # the test failed midway: end the fake trainer it started
      try:
        os.killpg(int(pid_file.read_text()), signal.SIGKILL)
      except (ProcessLookupError, ValueError):
        pass


# ------------------------------------------------------------------ dry run


DRY_RUN_CASES = {
    "create": ["create", *NAME_ZONE, "--accelerator_type", "v4-8", "--version", "v", "--spot"],
    "create_queued": ["create", *NAME_ZONE, "--accelerator_type", "v4-8", "--version", "v",
                      "--queued"],
    "train": ["train", *NAME_ZONE, "--config", "configs/default.py", "--workdir", "gs://b/r",
              "--config.seed=3"],
    "logs": ["logs", *NAME_ZONE, "--worker", "1"],
    "eval": ["eval", *NAME_ZONE, "--workdir", "gs://b/r"],
    "stop": ["stop", *NAME_ZONE],
    "delete": ["delete", *NAME_ZONE, "--queued"],
}


@pytest.mark.parametrize("case", sorted(DRY_RUN_CASES))
@pytest.mark.parametrize("position", ["global", "in_subcommand"])
def test_dry_run_prints_exactly_what_a_real_run_invokes(fake, case, position):
  args = DRY_RUN_CASES[case]
  dry_args = ["--dry-run", *args] if position == "global" else [*args, "--dry-run"]
  dry = run_ok(fake, *dry_args)
  assert fake.calls() == [], "a dry run must not invoke gcloud"
  printed = [shlex.split(line) for line in dry.stdout.splitlines()]
  run_ok(fake, *args)
  assert printed == [["gcloud", *c["argv"]] for c in fake.calls()]


def test_dry_run_setup_prints_pack_copy_install(fake, tmp_path):
  tree = make_git_tree(tmp_path)
  dry = run_ok(fake, "--dry-run", "setup", *NAME_ZONE, launch=tree / "launch.sh")
  assert fake.calls() == []
  pack, scp, ssh = dry.stdout.splitlines()
  listing, tar = (shlex.split(part) for part in pack.split(" | "))
  assert listing == ["git", "-C", str(tree), "ls-files", "-z", "--cached", "--others",
                     "--exclude-standard"]
  tarball = tar[2]
  assert tar[:2] == ["tar", "-czf"] and not pathlib.Path(tarball).exists()
  assert shlex.split(scp) == ["gcloud", "compute", "tpus", "tpu-vm", "scp", tarball,
                              "cry:babycry_jax_src.tar.gz", "--zone=us-central2-b",
                              "--worker=all"]
  run_ok(fake, "setup", *NAME_ZONE, launch=tree / "launch.sh")
  assert shlex.split(ssh) == ["gcloud", *fake.calls()[1]["argv"]]


# ------------------------------------------------------------------ local


@pytest.mark.parametrize("job, module", [
    ("train", "babycry_jax.train"), ("preprocess", "preprocess"),
    ("eval", "babycry_jax.evaluate"), ("detect", "babycry_jax.detect"),
])
def test_local_dry_run_prints_the_python_command(fake, job, module):
  result = run_ok(fake, "--dry-run", "local", job, "--workdir", "runs/a b", "--config.x=1",
                  extra_env={"PYTHON": "python3"})
  assert result.stdout == f"python3 -m {module} --workdir 'runs/a b' --config.x=1\n"


def test_local_train_dry_run_flag_after_job(fake):
  result = run_ok(fake, "local", "train", "--config", "configs/default.py", "--workdir", "W",
                  "--dry-run", extra_env={"PYTHON": "python"})
  assert result.stdout == "python -m babycry_jax.train --config configs/default.py --workdir W\n"


def test_local_runs_the_module_with_python(fake, tmp_path):
  fake_python = tmp_path / "fake_python"
  fake_python.write_text(FAKE_PYTHON)
  fake_python.chmod(0o755)
  result = run_ok(fake, "local", "detect", "--workdir", "W", "clip.mp4", extra_env={
      "PYTHON": str(fake_python), "FAKE_PYTHON_LOG": str(tmp_path / "py.txt")})
  assert result.stdout == "fake python ran: -m babycry_jax.detect --workdir W clip.mp4\n"


def test_local_passthrough_runs_the_command(fake):
  result = run_ok(fake, "local", "--", sys.executable, "-c", "import sys; print(sys.argv[1:])",
                  "--dry-run", "x y")
  assert result.stdout == "['--dry-run', 'x y']\n"  # after --, --dry-run is the command's


def test_local_propagates_the_exit_status(fake):
  result = fake.run("local", "--", sys.executable, "-c", "raise SystemExit(5)")
  assert result.returncode == 5


# ------------------------------------------------------------------ help and errors

SUBCOMMANDS = ["create", "setup", "train", "logs", "eval", "stop", "delete", "local"]


@pytest.mark.parametrize("subcommand", SUBCOMMANDS)
def test_subcommand_help(fake, subcommand):
  result = run_ok(fake, subcommand, "--help")
  assert result.stdout.startswith("usage: launch.sh ") and subcommand in result.stdout.splitlines()[0]
  assert fake.calls() == []


def test_main_help_lists_subcommands_and_environment(fake):
  result = run_ok(fake, "--help")
  for word in [*SUBCOMMANDS, "BABYCRY_TPU_ZONE", "BABYCRY_TPU_PROJECT", "BABYCRY_TPU_VERSION",
               "GCLOUD"]:
    assert word in result.stdout


@pytest.mark.parametrize("args, message", [
    ([], "missing SUBCOMMAND"),
    (["launch"], "unknown subcommand 'launch'"),
    (["--verbose", "create"], "unknown global option '--verbose'"),
    (["create", "--zone", "z", "--accelerator_type", "v4-8", "--version", "v"], "missing --name"),
    (["create", "--name", "cry", "--accelerator_type", "v4-8", "--version", "v"], "missing --zone"),
    (["create", *NAME_ZONE, "--accelerator_type", "v4-8"], "missing --version"),
    (["create", *NAME_ZONE, "--version", "v"], "missing --accelerator_type"),
    (["create", *NAME_ZONE, "--bogus"], "unknown option '--bogus'"),
    (["create", "--name"], "--name needs a value"),
    (["create", "--name", "Bad_Name", "--zone", "z"], "not a valid TPU name"),
    (["setup", "--zone", "z"], "missing --name"),
    (["train", *NAME_ZONE, "--workdir", "w"], "missing --config"),
    (["train", *NAME_ZONE, "--config", "c.py"], "missing --workdir"),
    (["train", *NAME_ZONE, "--config", "c.py", "--workdir", "w", "--config.seed", "3"],
     "write config overrides as --config.seed=VALUE"),
    (["train", *NAME_ZONE, "--config", "c.py", "--workdir", "w", "--env", "1X=2"],
     "--env expects KEY=VALUE"),
    (["logs", *NAME_ZONE, "--worker", "all"], "--worker must be a non-negative integer"),
    (["eval", *NAME_ZONE], "missing --workdir"),
    (["eval", *NAME_ZONE, "--workdir", "w", "--checkpoint", "newest"], "--checkpoint must be"),
    (["stop", *NAME_ZONE, "--grace_s", "soon"], "--grace_s must be"),
    (["delete", "--name", "cry"], "missing --zone"),
    (["local"], "missing JOB"),
    (["local", "serve"], "unknown local job 'serve'"),
    (["local", "--"], "nothing to run after --"),
])
def test_bad_arguments_exit_2_with_usage(fake, args, message):
  result = fake.run(*args)
  assert result.returncode == 2, (result.stdout, result.stderr)
  assert message in result.stderr
  assert "usage: launch.sh" in result.stderr
  assert fake.calls() == []
  assert result.stdout == ""
