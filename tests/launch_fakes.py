"""The fake cloud behind launch.sh's tests (tests/fake_tpu/): a fixture and what tests ask of it."""
import json
import os
import pathlib
import shlex
import shutil
import signal
import subprocess
import sys

import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
LAUNCH = REPO_ROOT / "launch.sh"
FAKES = pathlib.Path(__file__).resolve().parent / "fake_tpu"
NAME_ZONE = ["--name", "cry", "--zone", "us-central2-b"]


class FakeCloud:
  """launch.sh run against tests/fake_tpu/gcloud.py, and the state of that cloud."""

  def __init__(self, tmp_path: pathlib.Path, env: dict):
    self.root, self.env = tmp_path / "cloud", env
    self.root.mkdir()
    self.tools_log = tmp_path / "worker_tools.txt"
    self.tools_log.touch()

  def run(self, *args, extra_env=None, launch=LAUNCH, cwd=None, timeout=120):
    return subprocess.run([str(launch), *args], capture_output=True, text=True,
                          cwd=cwd or self.root.parent, env={**self.env, **(extra_env or {})},
                          timeout=timeout)

  def run_ok(self, *args, **kwargs):
    result = self.run(*args, **kwargs)
    assert result.returncode == 0, (result.stdout, result.stderr)
    return result

  def calls(self):
    log = self.root / "calls.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

  def argvs(self):
    return [c["argv"] for c in self.calls()]

  def home(self, worker=0) -> pathlib.Path:
    return self.root / "workers" / str(worker)

  def node(self):
    path = self.root / "node.json"
    return json.loads(path.read_text()) if path.exists() else None

  def add_node(self, workers=1, accelerator_type="v4-8"):
    """A READY TPU VM, as if created earlier."""
    self._write_node({"state": "READY", "acceleratorType": accelerator_type,
                      "runtimeVersion": "tpu-ubuntu2204-base", "schedulingConfig": {},
                      "workers": workers})
    for i in range(workers):
      self.home(i).mkdir(parents=True, exist_ok=True)

  def preempt(self):
    """What Google does to a Spot VM: the processes die, the node turns PREEMPTED."""
    self.end_trainers()
    self._write_node({**self.node(), "state": "PREEMPTED"})

  def _write_node(self, node):
    tmp = self.root / "node.tmp"
    tmp.write_text(json.dumps(node))
    tmp.replace(self.root / "node.json")

  def end_trainers(self):
    """Kills every trainer the test left running."""
    for pid_file in (self.root / "workers").glob("*/babycry_jax_logs/train.pid"):
      try:
        os.killpg(int(pid_file.read_text()), signal.SIGKILL)
      except (OSError, ValueError):
        pass


@pytest.fixture
def fake(tmp_path):
  """A fake gcloud first on PATH, playing the cloud of tests/fake_tpu/gcloud.py."""
  bin_dir = tmp_path / "bin"
  bin_dir.mkdir()
  gcloud = bin_dir / "gcloud"
  gcloud.write_text(f"#!/bin/sh\nexec {sys.executable} {FAKES / 'gcloud.py'} \"$@\"\n")
  gcloud.chmod(0o755)
  # Not the tests' JAX settings either: workers get what launch.sh gives them.
  env = {k: v for k, v in os.environ.items() if not k.startswith(("BABYCRY_", "FAKE_"))
         and k not in ("GCLOUD", "PYTHON", "JAX_PLATFORMS", "XLA_FLAGS")}
  env.update(PATH=f"{bin_dir}{os.pathsep}{env['PATH']}", FAKE_CLOUD=str(tmp_path / "cloud"),
             FAKE_WORKER_PATH=str(FAKES / "worker_bin"),
             FAKE_TOOLS_LOG=str(tmp_path / "worker_tools.txt"))
  cloud = FakeCloud(tmp_path, env)
  yield cloud
  cloud.end_trainers()


def ssh_script(argv) -> str:
  """The --command=... of a recorded `tpu-vm ssh` argv."""
  (script,) = [a[len("--command="):] for a in argv if a.startswith("--command=")]
  return script


def is_query(argv) -> bool:
  """A read-only call: describe, or the workers' training status (they run in a dry run too)."""
  return argv[3] == "describe" or (argv[3] == "ssh" and "babycry-train-status" in ssh_script(argv))


def dry_run_lines(calls) -> str:
  """What --dry-run prints for these recorded calls: each one that is not a query."""
  return "".join(shlex.join(["gcloud", *argv]) + "\n" for argv in calls if not is_query(argv))


def make_git_tree(tmp_path) -> pathlib.Path:
  """A small repository with launch.sh and launch/: committed, untracked and ignored files."""
  tree = tmp_path / "tree"
  (tree / "pkg").mkdir(parents=True)
  (tree / ".venv").mkdir()
  shutil.copy2(LAUNCH, tree / "launch.sh")
  shutil.copytree(REPO_ROOT / "launch", tree / "launch",
                  ignore=shutil.ignore_patterns("__pycache__"))
  (tree / "setup.py").write_text('INSTALL_REQUIRES = [\n    "jax==9.8.7",\n    "jaxlib==9.8.7",\n]\n')
  (tree / "pkg" / "__init__.py").write_text("")
  (tree / ".gitignore").write_text(".venv/\n/runs/\n__pycache__/\n")
  git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
  subprocess.run([*git, "init", "-q"], cwd=tree, check=True)
  subprocess.run([*git, "add", "."], cwd=tree, check=True)
  subprocess.run([*git, "commit", "-q", "-m", "init"], cwd=tree, check=True)
  (tree / "pkg" / "new_module.py").write_text("x = 1\n")  # untracked, not ignored
  (tree / ".venv" / "big.bin").write_text("ignored")
  (tree / "runs").mkdir()
  (tree / "runs" / "ckpt").write_text("ignored")
  return tree
