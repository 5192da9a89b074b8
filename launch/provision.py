"""Getting a TPU VM: create it (directly or through a queued resource), wait until it can be
used, and replace one that was preempted."""
from __future__ import annotations

import dataclasses
import sys
import time

from launch.errors import LaunchError
from launch.gcloud import Cloud

# Queued-resource states (state.state) on the way to ACTIVE, and those that never get there.
QUEUED_WAITING = ("CREATING", "ACCEPTED", "WAITING_FOR_RESOURCES", "PROVISIONING")
QUEUED_ENDED = ("FAILED", "SUSPENDING", "SUSPENDED")
# Node states: gone for good (delete and create again), or on the way back to READY.
NODE_LOST = ("PREEMPTED", "TERMINATED")
NODE_COMING = ("CREATING", "STARTING", "RESTARTING", "REPAIRING", "REIMAGING")
_REPORT_EVERY_S = 600  # a line even while the state stays the same


def say(message: str) -> None:
  """A progress line of launch.sh itself, timestamped, on stderr (stdout holds dry-run commands)."""
  print(f"[{time.strftime('%Y-%m-%d %H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclasses.dataclass(frozen=True)
class TpuSpec:
  """What to create."""
  accelerator_type: str
  version: str
  spot: bool = False
  queued: bool = False


@dataclasses.dataclass(frozen=True)
class Waiting:
  """How long to wait for a queued resource, and how often to look (0 minutes: no limit)."""
  timeout_min: float = 360.0
  poll_s: float = 30.0


def queued_state(resource: dict) -> str:
  return (resource.get("state") or {}).get("state", "UNKNOWN")


def _failure_detail(resource: dict) -> str:
  error = ((resource.get("state") or {}).get("failedData") or {}).get("error") or {}
  return f" ({error['message']})" if error.get("message") else ""


def create(cloud: Cloud, spec: TpuSpec, waiting=None) -> None:
  """Creates the TPU VM; with a queued resource, waits for ACTIVE unless `waiting` is None."""
  if not spec.queued:
    cloud.create_node(spec.accelerator_type, spec.version, spec.spot)
    return
  existing = cloud.queued()
  if existing is None:
    cloud.create_queued(spec.accelerator_type, spec.version, spec.spot)
  else:
    say(f"queued resource {cloud.target.name} exists ({queued_state(existing)}): not creating it again")
  if waiting is not None and not cloud.runner.dry_run:
    wait_active(cloud, waiting)


def wait_active(cloud: Cloud, waiting: Waiting) -> None:
  """Polls the queued resource until ACTIVE; LaunchError on FAILED/SUSPENDED or the timeout."""
  name, start = cloud.target.name, time.monotonic()
  last_state, last_report = None, start
  while True:
    resource = cloud.queued()
    if resource is None:
      raise LaunchError(f"queued resource {name} is gone (deleted while waiting?)")
    state, now = queued_state(resource), time.monotonic()
    waited = f"{(now - start) / 60:.0f} min"
    if state != last_state or now - last_report >= _REPORT_EVERY_S:
      say(f"queued resource {name}: {state} (waited {waited})")
      last_state, last_report = state, now
    if state == "ACTIVE":
      return
    if state in QUEUED_ENDED:
      raise LaunchError(
          f"queued resource {name} is {state}{_failure_detail(resource)}: it will not become "
          f"ACTIVE; delete it ('launch.sh delete --queued') and create it again, perhaps in "
          f"another zone")
    if waiting.timeout_min and now - start >= 60 * waiting.timeout_min:
      raise LaunchError(
          f"queued resource {name} is still {state} after {waited}; it stays in the queue: "
          f"run the same 'create --queued' to wait again, or 'delete --queued' to give up")
    time.sleep(waiting.poll_s)


def ensure_ready(cloud: Cloud, spec: TpuSpec, waiting: Waiting) -> dict:
  """The TPU VM in state READY: created, waited for, or deleted and created again when it was
  preempted. Returns its description."""
  name = cloud.target.name
  while True:
    if spec.queued:
      resource = cloud.queued()
      state = None if resource is None else queued_state(resource)
      if state in QUEUED_ENDED:
        say(f"queued resource {name} is {state}: deleting it to queue again")
        cloud.delete(queued=True, yes=True)
        continue
      if state != "ACTIVE":
        create(cloud, spec, waiting)
        continue
    node = cloud.node()
    state = None if node is None else node.get("state", "UNKNOWN")
    if state == "READY":
      return node
    if state is None and not spec.queued:
      say(f"creating {name} ({spec.accelerator_type}, {spec.version}{', spot' if spec.spot else ''})")
      create(cloud, spec)
    elif state is None or state in NODE_LOST:
      say(f"{name} is {state or 'gone'}: deleting it to create it again")
      cloud.delete(queued=spec.queued, yes=True)
    elif state in NODE_COMING:
      say(f"{name} is {state}: waiting for READY")
      time.sleep(waiting.poll_s)
    else:
      raise LaunchError(f"{name} is {state}: start it or delete it; run will not")
