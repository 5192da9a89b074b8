"""What launch.sh does on every worker: install the project, start, stop and ask after training."""
from __future__ import annotations

import pathlib
import re
import shutil
import tempfile

from launch import remote, source
from launch.errors import LaunchError
from launch.gcloud import Cloud
from launch.provision import say


def jax_spec(repo_root: pathlib.Path) -> str:
  """jax[tpu] at the jax version pinned in setup.py (unpinned when there is none)."""
  try:
    text = (repo_root / "setup.py").read_text()
  except OSError:
    return "jax[tpu]"
  match = re.search(r'^\s*"jax==([^"]+)"', text, re.MULTILINE)
  return f"jax[tpu]=={match.group(1)}" if match else "jax[tpu]"


def setup(cloud: Cloud, repo_root: pathlib.Path, python: str, rebuild: bool = False) -> None:
  """Copies the source tree to every worker and installs it (see launch/worker/setup.sh)."""
  if not (repo_root / "setup.py").is_file():
    raise LaunchError(f"no setup.py in {repo_root}: run launch.sh from the repository")
  staging = tempfile.mkdtemp(prefix="babycry_jax_setup.")
  try:
    tarball = str(pathlib.Path(staging) / remote.TARBALL)
    if cloud.runner.dry_run:
      print(f"# pack the source tree of {repo_root} into {tarball}")
    else:
      say(f"packed {source.pack(repo_root, tarball)}")
    cloud.scp(tarball, remote.TARBALL)
    cloud.ssh("all", remote.setup_script(python, jax_spec(repo_root), rebuild))
  finally:
    shutil.rmtree(staging, ignore_errors=True)


def trainer_args(config: str, workdir: str, overrides: list, passthrough: list) -> list:
  return ["-m", "babycry_jax.train", "--distributed", f"--config={config}",
          f"--workdir={workdir}", *overrides, *passthrough]


def start_training(cloud: Cloud, args: list, envs: list) -> None:
  cloud.ssh("all", remote.train_script(args, envs))


def stop_training(cloud: Cloud, grace_s: int, check: bool = True) -> None:
  cloud.ssh("all", remote.stop_script(grace_s), check=check)


def training_status(cloud: Cloud) -> list:
  """A remote.WorkerStatus per worker that answered (fewer than the workers: some did not)."""
  return remote.parse_status(cloud.ssh_query("all", remote.status_script()).stdout)


def refuse_while_training(cloud: Cloud, what: str, count: int) -> list:
  """The statuses of all `count` workers; LaunchError when training runs on any (it holds the
  TPU) or when some do not answer (it might run there)."""
  statuses = training_status(cloud)
  if len(statuses) < count:
    raise LaunchError(f"only {len(statuses)} of {count} workers of {cloud.target.name} answered "
                      "(see 'launch.sh status')")
  running = [s.host for s in statuses if s.state == "running"]
  if running:
    raise LaunchError(
        f"training is running on {len(running)} of {count} workers of {cloud.target.name}, "
        f"and {what} would compete with it for the TPU: wait for it to finish, or "
        "'launch.sh stop' it first")
  return statuses
