"""An unattended run: create, set up, train, and after a preemption or a lost host create the
TPU VM again, set it up and resume from the workdir, until training finishes or the budget of
retries is spent. Every step is logged (provision.say).

Each watch looks at the node's state, then at every worker's training status (remote.py):
  all finished                 -> done (exit 0)
  any stopped                  -> someone ran 'launch.sh stop': done watching (exit 1)
  every worker failed with 1   -> the trainer's own error (a bad config, a diverged loss): no
                                  retry, since it would fail again (exit 1)
  node PREEMPTED/TERMINATED/gone, a worker failed otherwise, lost, terminated or absent, or
  workers that do not answer for 3 looks -> a retry: the training still running elsewhere is
  stopped; a lost node, or one with workers that do not answer, is deleted and created
  again; then the workers are set up and training starts again.
"""
from __future__ import annotations

import collections
import dataclasses
import pathlib
import time

from launch import provision, remote, workers
from launch.errors import LaunchError
from launch.gcloud import Cloud
from launch.provision import say

_UNANSWERED_LOOKS = 3
_STOP_GRACE_S = 60


@dataclasses.dataclass
class Outcome:
  """How one attempt ended: `status` is the exit status when no retry should follow;
  `replace_vm` says the VM itself is broken, to be deleted before the next attempt."""
  reason: str
  status: int | None = None
  replace_vm: bool = False


@dataclasses.dataclass
class Supervisor:
  cloud: Cloud
  spec: provision.TpuSpec
  waiting: provision.Waiting
  repo_root: pathlib.Path
  python: str
  trainer_args: list
  envs: list
  max_retries: int = 5
  poll_s: float = 60.0
  delete_when_done: bool = False

  def run(self) -> int:
    retries = 0
    while True:
      say(f"attempt {retries + 1} (of at most {self.max_retries + 1})")
      outcome = self.attempt()
      if outcome.status is not None:
        say(outcome.reason)
        return outcome.status
      retries += 1
      if retries > self.max_retries:
        say(f"{outcome.reason}; giving up after {self.max_retries} retries")
        return 1
      say(f"{outcome.reason}; retry {retries} of {self.max_retries} in {self.poll_s:g}s")
      time.sleep(self.poll_s)
      if outcome.replace_vm:
        self.replace_vm()

  def attempt(self) -> Outcome:
    """Gets the TPU VM ready, starts (or adopts) training and watches it to its end."""
    try:
      node = provision.ensure_ready(self.cloud, self.spec, self.waiting)
      count = max(1, len(node.get("networkEndpoints") or []))
      states = [s.state for s in workers.training_status(self.cloud)]
      if len(states) == count and all(s == "running" for s in states):
        say(f"training is already running on all {count} workers: watching it")
      elif len(states) == count and all(s == "finished" for s in states):
        return self.finished(count)
      else:
        if "running" in states:
          say("training runs on some workers only: stopping it there first")
          workers.stop_training(self.cloud, _STOP_GRACE_S)
        say(f"setting up {count} workers")
        workers.setup(self.cloud, self.repo_root, self.python)
        say("starting training")
        workers.start_training(self.cloud, self.trainer_args, self.envs)
      return self.watch(count)
    except LaunchError as e:
      return Outcome(str(e))

  def watch(self, count: int) -> Outcome:
    unanswered, last = 0, None
    while True:
      time.sleep(self.poll_s)
      node = self.cloud.node()
      state = None if node is None else node.get("state", "UNKNOWN")
      if state != "READY":
        return Outcome(f"{self.cloud.target.name} is {state or 'gone'}")
      statuses = workers.training_status(self.cloud)
      if len(statuses) < count:
        unanswered += 1
        say(f"{len(statuses)} of {count} workers answered ({unanswered} of {_UNANSWERED_LOOKS})")
        if unanswered >= _UNANSWERED_LOOKS:
          self.stop_the_rest()
          return Outcome(f"{count - len(statuses)} of {count} workers stopped answering",
                         replace_vm=True)
        continue
      unanswered = 0
      summary = _summary(statuses)
      if summary != last:
        say(f"training: {summary}")
        last = summary
      outcome = self.judge(statuses, count)
      if outcome is not None:
        return outcome

  def judge(self, statuses: list, count: int):
    """The Outcome the workers' statuses call for, None while training goes on."""
    states = [s.state for s in statuses]
    if all(s == "finished" for s in states):
      return self.finished(count)
    if "stopped" in states:
      return Outcome("training was stopped with 'launch.sh stop'; run the same command to "
                     "resume it", status=1)
    if all(s.state == "failed" and s.detail == "1" for s in statuses):
      self.cloud.ssh(0, remote.logs_command(20, follow=False), check=False)
      return Outcome("training failed on every worker with exit status 1, its own error (the "
                     "log's end is above): a retry would fail alike", status=1)
    ended = [s for s in statuses if s.state not in ("running", "finished")]
    if ended:
      self.stop_the_rest()
      first = ended[0]
      return Outcome(f"training ended on {len(ended)} of {count} workers "
                     f"({first.host}: {first.state} {first.detail}".rstrip() + ")")
    return None

  def finished(self, count: int) -> Outcome:
    if self.delete_when_done:
      say(f"deleting {self.cloud.target.name} (--delete_when_done)")
      self.cloud.delete(self.spec.queued, yes=True)
    return Outcome(f"training finished on all {count} workers", status=0)

  def replace_vm(self) -> None:
    """Deletes the VM so that the next attempt creates it again (a failure here is retried)."""
    say(f"deleting {self.cloud.target.name} to create it again")
    try:
      self.cloud.delete(self.spec.queued, yes=True)
    except LaunchError as e:
      say(str(e))

  def stop_the_rest(self) -> None:
    """Stops what still runs (a trainer whose peer is gone waits for it forever)."""
    workers.stop_training(self.cloud, _STOP_GRACE_S, check=False)


def _summary(statuses: list) -> str:
  counts = collections.Counter(f"{s.state} {s.detail}".strip() for s in statuses)
  return ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
