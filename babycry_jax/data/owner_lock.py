"""A lock file that names the process holding it (host, pid), so two jobs never share a folder.

`acquire(path)` returns a held Lock or raises LockHeld naming the holder. A
holder that died leaves no lock stuck for ever:
- a local path is locked with flock(2), which the kernel drops when its process
  ends, SIGKILL included; the file's text only names the holder;
- a gs:// object is created only where none exists. It names the holder and the
  time of its last heartbeat, renewed every HEARTBEAT_S by a thread; it is
  stale, and taken over, once its holder's pid is gone on this same host or its
  heartbeat is older than STALE_S (a holder on a machine that was replaced).
"""
from __future__ import annotations

import datetime
import fcntl
import json
import os
import socket
import threading
import time
from typing import Optional

from babycry_jax.data import storage

HEARTBEAT_S = 60.0
STALE_S = 600.0


class LockHeld(RuntimeError):
  """The lock belongs to a live process; `holder` is what its file says."""

  def __init__(self, path: str, holder: dict):
    self.path, self.holder = path, holder
    super().__init__(f"{path} is held by {describe(holder)}")


def describe(holder: dict) -> str:
  since = holder.get("since")
  when = (datetime.datetime.fromtimestamp(since, datetime.timezone.utc).strftime(
      "%Y-%m-%d %H:%M:%S UTC") if isinstance(since, (int, float)) else "an unknown time")
  return f"host {holder.get('host', '?')}, pid {holder.get('pid', '?')}, since {when}"


def _me(details: dict) -> dict:
  now = time.time()
  return {**details, "host": socket.gethostname(), "pid": os.getpid(), "since": now,
          "heartbeat": now}


def _parse(text: str) -> dict:
  try:
    holder = json.loads(text)
  except ValueError:
    return {}
  return holder if isinstance(holder, dict) else {}


def _pid_alive(pid) -> bool:
  if not isinstance(pid, int) or pid <= 0:
    return False
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:   # someone else's process: alive
    return True
  return True


def is_stale(holder: dict, now: Optional[float] = None) -> bool:
  """True when the holder is surely gone: its pid is dead on this host, or it went silent."""
  if holder.get("host") == socket.gethostname():
    return not _pid_alive(holder.get("pid"))
  heartbeat = holder.get("heartbeat")
  now = time.time() if now is None else now
  return not isinstance(heartbeat, (int, float)) or now - heartbeat > STALE_S


class Lock:
  """A held lock; release() gives it back (also safe to call twice)."""

  def __init__(self, path: str, release_fn, stop: Optional[threading.Event] = None):
    self.path = path
    self._release_fn = release_fn
    self._stop = stop

  def release(self) -> None:
    if self._release_fn is None:
      return
    if self._stop is not None:
      self._stop.set()
    release_fn, self._release_fn = self._release_fn, None
    release_fn()


def _acquire_local(path: str, details: dict) -> Lock:
  while True:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      with os.fdopen(fd) as f:
        raise LockHeld(path, _parse(f.read())) from None
    try:
      same_file = os.stat(path).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
      same_file = False
    if same_file:
      break
    os.close(fd)  # the holder removed the file between our open and our lock: start again
  os.ftruncate(fd, 0)
  os.write(fd, json.dumps(_me(details)).encode("utf-8"))

  def release() -> None:
    os.remove(path)   # while still locked, so nobody locks the old file after us
    os.close(fd)
  return Lock(path, release)


def _heartbeat(path: str, holder: dict, stop: threading.Event) -> None:
  while not stop.wait(HEARTBEAT_S):
    try:
      storage.write_text(path, json.dumps(dict(holder, heartbeat=time.time())))
    except Exception:  # an unreachable bucket: the next beat tries again
      pass


def _acquire_url(path: str, details: dict) -> Lock:
  holder = _me(details)
  text = json.dumps(holder).encode("utf-8")
  if not storage.create_new(path, text):
    found = _parse(storage.read_text(path))
    if not is_stale(found):
      raise LockHeld(path, found)
    storage.remove(path)
    if not storage.create_new(path, text):   # another process took it over first
      raise LockHeld(path, _parse(storage.read_text(path)))
  stop = threading.Event()
  threading.Thread(target=_heartbeat, args=(path, holder, stop), daemon=True,
                   name="lock-heartbeat").start()

  def release() -> None:
    if _parse(storage.read_text(path)).get("since") == holder["since"]:
      storage.remove(path)
  return Lock(path, release, stop)


def acquire(path: str, **details) -> Lock:
  """Takes the lock at `path` (its folder must exist); LockHeld when a live process has it.

  `details` (JSON values) are written into the lock file beside host and pid.
  """
  return _acquire_url(path, details) if storage.is_url(path) else _acquire_local(path, details)


def holder_if_held(path: str) -> Optional[dict]:
  """What the lock file names when a live process holds it; None when it is free or absent."""
  if not storage.exists(path):
    return None
  try:
    acquire(path).release()
  except LockHeld as e:
    return e.holder
  return None
