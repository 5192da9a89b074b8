"""Real faults for the fault tests: a file-size limit on a process, its children, one-line checks.

No code under test is mocked: a command runs as a user would start it, and the
fault comes from the operating system (a process killed, writes refused).
"""
from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time

from conftest import REPO_ROOT


def file_size_limit(max_bytes: int):
  """A preexec_fn: no file of the process (or its children) may grow past max_bytes.

  Writes beyond it fail with EFBIG, as on a full disk; SIGXFSZ, which would
  kill the process instead, is ignored (and stays ignored across exec).
  """
  def limit():
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))
  return limit


def command_env(devices: int = 2, **extra: str) -> dict[str, str]:
  env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), JAX_PLATFORMS="cpu",
             XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}")
  env.update(extra)
  return env


def start(module: str, args, env=None, preexec_fn=None) -> subprocess.Popen:
  """`python -m module args...` from the repository root, stdout and stderr merged."""
  return subprocess.Popen([sys.executable, "-m", module, *map(str, args)], cwd=REPO_ROOT,
                          env=env or command_env(), preexec_fn=preexec_fn, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def run(module: str, args, env=None, preexec_fn=None, timeout: float = 600) -> tuple[int, str]:
  proc = start(module, args, env, preexec_fn)
  out, _ = proc.communicate(timeout=timeout)
  return proc.returncode, out


def children(pid: int) -> list[int]:
  """The direct children of a process (from /proc)."""
  found = []
  for entry in os.listdir("/proc"):
    if not entry.isdigit():
      continue
    try:
      with open(f"/proc/{entry}/stat") as f:
        ppid = int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
      continue
    if ppid == pid:
      found.append(int(entry))
  return found


def descendants_running(pid: int, module: str) -> list[int]:
  """Processes below `pid` whose command line runs `python -m module`."""
  found, stack = [], [pid]
  while stack:
    for child in children(stack.pop()):
      stack.append(child)
      try:
        with open(f"/proc/{child}/cmdline", "rb") as f:
          argv = f.read().split(b"\0")
      except OSError:
        continue
      if b"-m" in argv and module.encode() in argv and b"/bin/sh" not in argv[0]:
        found.append(child)
  return found


def wait_for_line(proc: subprocess.Popen, marker: str, timeout: float = 300) -> list[str]:
  """Reads the process's output until a line holds `marker`; returns the lines read."""
  lines, deadline = [], time.time() + timeout
  for line in proc.stdout:
    lines.append(line)
    if marker in line:
      return lines
    if time.time() > deadline:
      break
  raise AssertionError(f"{marker!r} never came:\n{''.join(lines)}")


def assert_no_traceback(out: str) -> None:
  assert "Traceback" not in out, out
