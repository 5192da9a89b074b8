"""The gcloud commands launch.sh issues about one TPU VM, and how they are run or printed.

Commands that change something are echoed to stderr ("+ gcloud ...") and run, or with
--dry-run only printed to stdout, one shell-quoted command after another. Queries
(describe, a worker's training status) run in a dry run too: they decide what comes next.
"""
from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys

from launch.errors import LaunchError
from launch.options import Target

NODE = ["compute", "tpus", "tpu-vm"]
QUEUED = ["compute", "tpus", "queued-resources"]


class Runner:
  """Runs commands, or prints them in a dry run."""

  def __init__(self, dry_run: bool = False, gcloud: str = ""):
    self.dry_run = dry_run
    self.gcloud = gcloud or os.environ.get("GCLOUD") or "gcloud"

  def act(self, argv: list, check: bool = True) -> int:
    """Runs a command that changes something (or prints it); its exit status."""
    if self.dry_run:
      print(shlex.join(argv), flush=True)
      return 0
    print(f"+ {shlex.join(_short(argv))}", file=sys.stderr, flush=True)
    status = self._call(argv).returncode
    if check and status:
      raise LaunchError(f"{shlex.join(argv[:5])} failed with exit status {status}", status)
    return status

  def query(self, argv: list) -> subprocess.CompletedProcess:
    """Runs a read-only command, dry run or not, and returns its captured output."""
    return self._call(argv, capture=True)

  @staticmethod
  def _call(argv: list, capture: bool = False) -> subprocess.CompletedProcess:
    try:
      # No stdin: an unattended run must never stop at a prompt.
      return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=capture, text=True)
    except FileNotFoundError:
      raise LaunchError(f"{argv[0]} not found: install the Google Cloud CLI or set GCLOUD") from None


def _short(argv: list) -> list:
  """argv with each multi-line script shown by its size (a dry run prints it whole)."""
  return [word if "\n" not in word else
          f"{word.split('=', 1)[0]}=<a script of {word.count(chr(10)) + 1} lines: --dry-run prints it>"
          for word in argv]


def _last_line(text: str) -> str:
  lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
  return lines[-1] if lines else "no message"


class Cloud:
  """gcloud about one TPU VM (and the queued resource of the same name)."""

  def __init__(self, target: Target, runner: Runner):
    self.target, self.runner = target, runner

  def _gcloud(self, group: list, verb: str, *args) -> list:
    return [self.runner.gcloud, *group, verb, self.target.name, *self.target.location(), *args]

  # ---------------------------------------------------------------- queries

  def _describe(self, group: list):
    result = self.runner.query(self._gcloud(group, "describe", "--format=json"))
    if result.returncode:
      if "NOT_FOUND" in result.stderr or "not found" in result.stderr.lower():
        return None
      raise LaunchError(f"cannot describe {self.target.name}: {_last_line(result.stderr)}")
    try:
      return json.loads(result.stdout)
    except ValueError:
      raise LaunchError(f"gcloud describe printed no JSON: {_last_line(result.stdout)}") from None

  def node(self):
    """The TPU VM as `describe` gives it (state, networkEndpoints, ...), None when absent."""
    return self._describe(NODE)

  def queued(self):
    """The queued resource (its state under state.state), None when absent."""
    return self._describe(QUEUED)

  def workers(self) -> int:
    """How many workers (hosts) the TPU VM has."""
    node = self.node()
    if node is None:
      raise LaunchError(f"there is no TPU VM {self.target.name} in {self.target.zone}")
    return max(1, len(node.get("networkEndpoints") or []))

  def ssh_query(self, worker, command: str) -> subprocess.CompletedProcess:
    return self.runner.query(self._ssh(worker, command))

  # ---------------------------------------------------------------- actions

  def create_node(self, accelerator_type: str, version: str, spot: bool) -> None:
    self.runner.act(self._gcloud(NODE, "create", f"--accelerator-type={accelerator_type}",
                                 f"--version={version}", *(["--spot"] if spot else []),
                                 *self.target.create_flags))

  def create_queued(self, accelerator_type: str, version: str, spot: bool) -> None:
    # The node is named like the queued resource, so every subcommand finds it by --name.
    self.runner.act(self._gcloud(QUEUED, "create", f"--node-id={self.target.name}",
                                 f"--accelerator-type={accelerator_type}",
                                 f"--runtime-version={version}", *(["--spot"] if spot else []),
                                 *self.target.create_flags))

  def delete(self, queued: bool, yes: bool) -> None:
    quiet = ["--quiet"] if yes else []
    if queued:
      # --force deletes the queued resource together with the node it holds.
      self.runner.act(self._gcloud(QUEUED, "delete", "--force", *quiet))
    else:
      self.runner.act(self._gcloud(NODE, "delete", *quiet))

  def ssh(self, worker, command: str, check: bool = True) -> int:
    return self.runner.act(self._ssh(worker, command), check=check)

  def scp(self, local_path: str, remote_path: str) -> None:
    self.runner.act([self.runner.gcloud, *NODE, "scp", local_path,
                     f"{self.target.name}:{remote_path}", *self.target.location(),
                     "--worker=all", *self.target.ssh_flags])

  def _ssh(self, worker, command: str) -> list:
    return self._gcloud(NODE, "ssh", f"--worker={worker}", *self.target.ssh_flags,
                        f"--command={command}")
