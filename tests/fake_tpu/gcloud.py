"""A fake `gcloud` for launch.sh's tests: records every call and plays a small cloud.

State lives in $FAKE_CLOUD: calls.jsonl (each argv), node.json (the TPU VM while it exists),
queued.json (the queued resource: the states its describes will report, in turn) and
workers/<i>/ (each worker's home; a file `unreachable` there makes ssh time out on that
worker). `tpu-vm ssh` runs the command with bash in each chosen worker's home, with $FAKE_WORKER_PATH first on PATH (a Python 3.10 `python3`, `curl`, `uv`);
`scp` copies into the homes. A VM created again starts with empty homes, as a real one does.
Settings: FAKE_WORKERS (workers of a new VM, default 1), FAKE_QUEUED_STATES (comma-separated
states of a new queued resource, default ACTIVE).
"""
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import tarfile

CLOUD = pathlib.Path(os.environ["FAKE_CLOUD"])
NODE, QUEUED, HOMES = CLOUD / "node.json", CLOUD / "queued.json", CLOUD / "workers"


def read(path):
  return json.loads(path.read_text()) if path.exists() else None


def write(path, value):
  tmp = path.with_suffix(".tmp")
  tmp.write_text(json.dumps(value))
  tmp.replace(path)  # the test preempts from another process: never a half-written file


def flag(argv, name, default=None):
  return next((a.split("=", 1)[1] for a in argv if a.startswith(f"--{name}=")), default)


def homes(worker="all"):
  everyone = sorted(HOMES.iterdir(), key=lambda p: int(p.name)) if HOMES.exists() else []
  return everyone if worker == "all" else [h for h in everyone if h.name == worker]


def kill_trainers():
  """What a VM's end does to the processes on it."""
  for home in homes():
    try:
      os.killpg(int((home / "babycry_jax_logs" / "train.pid").read_text()), signal.SIGKILL)
    except (OSError, ValueError):
      pass


def make_node(argv, version_flag):
  write(NODE, {"state": "READY", "acceleratorType": flag(argv, "accelerator-type"),
               "runtimeVersion": flag(argv, version_flag),
               "schedulingConfig": {"spot": "--spot" in argv},
               "workers": int(os.environ.get("FAKE_WORKERS", "1"))})
  shutil.rmtree(HOMES, ignore_errors=True)
  for i in range(read(NODE)["workers"]):
    (HOMES / str(i)).mkdir(parents=True)


def remove_node():
  kill_trainers()
  NODE.unlink(missing_ok=True)
  shutil.rmtree(HOMES, ignore_errors=True)


def not_found(what):
  print(f"ERROR: (gcloud.compute.tpus.{what}.describe) NOT_FOUND: Resource not found", file=sys.stderr)
  return 1


def describe_node():
  node = read(NODE)
  if node is None:
    return not_found("tpu-vm")
  endpoints = [{"ipAddress": f"10.0.0.{i + 2}"} for i in range(node.pop("workers"))]
  print(json.dumps({**node, "networkEndpoints": endpoints}))
  return 0


def describe_queued():
  resource = read(QUEUED)
  if resource is None:
    return not_found("queued-resources")
  state = resource["states"][0]
  if len(resource["states"]) > 1:
    resource["states"].pop(0)  # the next describe sees the next state
  write(QUEUED, resource)
  if state == "ACTIVE" and read(NODE) is None:
    make_node(resource["argv"], "runtime-version")
  out = {"name": resource["argv"][0], "state": {"state": state}}
  if state == "FAILED":
    out["state"]["failedData"] = {"error": {"message": "no capacity for this accelerator type in the zone"}}
  print(json.dumps(out))
  return 0


def on_workers(argv):
  node = read(NODE)
  if node is None or node["state"] != "READY":
    print("ssh: connect to host: Connection refused", file=sys.stderr)
    return 255
  worker = flag(argv, "worker")
  if argv[0] == "scp":
    for home in homes(worker):
      shutil.copy(argv[1], home / argv[2].split(":", 1)[1])
    return 0
  command, status = flag(argv, "command"), 0
  for home in homes(worker):
    if (home / "unreachable").exists():  # a host that went down: the others still answer
      print(f"ssh: connect to worker {home.name}: Connection timed out", file=sys.stderr)
      status = 255
      continue
    env = dict(os.environ, HOME=str(home), FAKE_WORKER_INDEX=home.name,
               PATH=f"{os.environ['FAKE_WORKER_PATH']}{os.pathsep}{os.environ['PATH']}")
    status = max(status, subprocess.run(["bash", "-c", command], cwd=home, env=env).returncode)
  return status


def main(argv):
  record = {"argv": argv}
  tarballs = [a for a in argv if a.endswith(".tar.gz") and os.path.isfile(a)]
  if tarballs:
    with tarfile.open(tarballs[0]) as archive:
      record["tar_members"] = sorted(m.name for m in archive.getmembers() if m.isfile())
  with open(CLOUD / "calls.jsonl", "a") as log:
    log.write(json.dumps(record) + "\n")
  group, verb, rest = argv[2], argv[3], argv[4:]
  if group == "tpu-vm" and verb == "create":
    if read(NODE) is not None:
      print("ERROR: ALREADY_EXISTS", file=sys.stderr)
      return 1
    make_node(rest, "version")
  elif group == "tpu-vm" and verb == "describe":
    return describe_node()
  elif group == "tpu-vm" and verb == "delete":
    remove_node()
  elif group == "tpu-vm" and verb in ("ssh", "scp"):
    return on_workers([verb, *rest])
  elif group == "queued-resources" and verb == "create":
    states = os.environ.get("FAKE_QUEUED_STATES", "ACTIVE").split(",")
    write(QUEUED, {"argv": rest, "states": states})
  elif group == "queued-resources" and verb == "describe":
    return describe_queued()
  elif group == "queued-resources" and verb == "delete":
    QUEUED.unlink(missing_ok=True)
    remove_node()
  return 0


if __name__ == "__main__":
  sys.exit(main(sys.argv[1:]))
