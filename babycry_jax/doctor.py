r"""Checks that this host can train: Python, jax, libtpu, the devices JAX sees, a writable workdir.

  python -m babycry_jax.doctor [--distributed] [--platform tpu] [--workdir gs://bucket/runs/r1]

`launch.sh doctor` runs it on every worker of a TPU VM at once (with --distributed, as
training does). Prints one line per check, each starting with the host name and "ok" or
"FAIL"; exit status 0 when every check passed, 1 otherwise.
"""
from __future__ import annotations

import importlib.metadata
import os
import platform
import socket
import sys

from absl import app, flags

from babycry_jax import console
from babycry_jax.data import storage

FLAGS = flags.FLAGS
flags.DEFINE_bool("distributed", False, "Call jax.distributed.initialize() first (TPU pods).")
flags.DEFINE_string("platform", "", "The platform JAX must find (tpu, gpu, cpu); empty: any.")
flags.DEFINE_string("workdir", "", "A workdir (or gs:// prefix) to check this host can write.")

# The oldest Python the pinned stack installs on (numpy 2.4 and jax 0.10 have no 3.10 wheels).
MIN_PYTHON = (3, 11)
PACKAGES = ("jax", "jaxlib", "libtpu", "flax", "orbax-checkpoint", "grain")


class Report:
  """Prints each check as it is made and remembers whether any failed."""

  def __init__(self):
    self.host = socket.gethostname()
    self.failed = False

  def line(self, ok: bool, what: str) -> None:
    self.failed |= not ok
    print(f"{self.host}: {'ok  ' if ok else 'FAIL'} {what}", flush=True)


def _version(package: str) -> str:
  try:
    return importlib.metadata.version(package)
  except importlib.metadata.PackageNotFoundError:
    return "not installed"


def check_python(report: Report) -> None:
  ok = sys.version_info[:2] >= MIN_PYTHON
  report.line(ok, f"Python {platform.python_version()} ({sys.executable})"
              + ("" if ok else f": the pinned stack needs {'.'.join(map(str, MIN_PYTHON))}+"))
  report.line(True, ", ".join(f"{p} {_version(p)}" for p in PACKAGES))


def check_devices(report: Report, distributed: bool, expected_platform: str) -> None:
  try:
    import jax  # here: a broken jax install is something to report, not a traceback
    if distributed:
      jax.distributed.initialize()
    devices, local = jax.devices(), jax.local_devices()
  except Exception as e:  # pylint: disable=broad-except  (any failure is the finding)
    report.line(False, f"JAX cannot start: {' '.join(str(e).split())}")
    return
  kinds = sorted({d.device_kind for d in devices})
  found = devices[0].platform
  ok = not expected_platform or found == expected_platform
  report.line(ok, f"process {jax.process_index()} of {jax.process_count()}: {len(local)} local "
                  f"of {len(devices)} {found} devices ({', '.join(kinds)})"
              + ("" if ok else f"; expected {expected_platform} (is libtpu installed?)"))


def check_workdir(report: Report, workdir: str) -> None:
  probe = storage.join(storage.absolute(workdir), ".doctor", f"{report.host}-{os.getpid()}")
  try:
    if not storage.is_url(probe):
      os.makedirs(os.path.dirname(probe), exist_ok=True)
    storage.write_text(probe, "written by babycry_jax.doctor\n")
    storage.read_text(probe)
    storage.remove(probe)
  except Exception as e:  # pylint: disable=broad-except  (credentials, permissions, network)
    report.line(False, f"cannot write {workdir}: {' '.join(str(e).split())}")
    return
  report.line(True, f"{workdir} is writable (wrote, read and deleted {probe})")


def main(argv):
  console.quiet_libraries()
  report = Report()
  check_python(report)
  check_devices(report, FLAGS.distributed, FLAGS.platform)
  if FLAGS.workdir:
    check_workdir(report, FLAGS.workdir)
  report.line(not report.failed, "ready to train" if not report.failed else "not ready")
  return 1 if report.failed else 0


if __name__ == "__main__":
  app.run(main, flags_parser=console.parse_only_flags)
