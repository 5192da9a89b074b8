"""Beam's portable path on one machine: a job service and an external worker pool.

Flink, Spark and Dataflow's runner v2 run a Python pipeline the same way: a
job service takes the pipeline, and SDK worker processes that share nothing
with the launcher run it. `LocalCluster` starts Beam's own job service and
worker pool as two processes on free localhost ports, so that the job can be
run (and tested) through that path here:

    with LocalCluster() as cluster:
      build_dataset(..., pipeline_args=cluster.pipeline_args())
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from typing import IO, Optional


def free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _wait_for_port(port: int, process: subprocess.Popen, timeout_s: float) -> None:
  deadline = time.monotonic() + timeout_s
  while True:
    try:
      socket.create_connection(("127.0.0.1", port), timeout=1).close()
      return
    except OSError:
      if process.poll() is not None:
        raise RuntimeError(f"{process.args} exited with status {process.returncode}")
      if time.monotonic() > deadline:
        raise RuntimeError(f"{process.args} did not listen on port {port} within {timeout_s:.0f} s")
      time.sleep(0.2)


class LocalCluster:
  """A local Beam job service and worker pool, stopped on exit.

  Args:
    log: where both processes' output goes (default: discarded).
    start_timeout_s: how long each may take to listen.
  """

  def __init__(self, log: Optional[IO] = None, start_timeout_s: float = 120.0):
    self._log = log if log is not None else subprocess.DEVNULL
    self._timeout_s = start_timeout_s
    self._processes: list[subprocess.Popen] = []
    self.job_port = self.worker_pool_port = 0

  def _start(self, module: str, *args: str) -> subprocess.Popen:
    # The pool starts each worker as `python` from PATH: this interpreter's must come first.
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    project_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = project_root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    process = subprocess.Popen([sys.executable, "-m", module, *args], env=env, cwd=project_root,
                               stdout=self._log, stderr=subprocess.STDOUT)
    self._processes.append(process)
    return process

  def __enter__(self) -> "LocalCluster":
    try:
      self.job_port, self.worker_pool_port = free_port(), free_port()
      job_service = self._start("apache_beam.runners.portability.local_job_service_main",
                                f"--port={self.job_port}")
      pool = self._start("apache_beam.runners.worker.worker_pool_main",
                         f"--service_port={self.worker_pool_port}")
      _wait_for_port(self.job_port, job_service, self._timeout_s)
      _wait_for_port(self.worker_pool_port, pool, self._timeout_s)
    except BaseException:
      self.stop()
      raise
    return self

  def __exit__(self, *exc) -> None:
    self.stop()

  def stop(self) -> None:
    for process in self._processes:
      process.terminate()
    for process in self._processes:
      try:
        process.wait(timeout=20)
      except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    self._processes.clear()

  @property
  def pids(self) -> list[int]:
    return [p.pid for p in self._processes]

  def pipeline_args(self) -> list[str]:
    """Beam flags that send a job to this cluster.

    Beam's local job service (2.77) runs one SDK worker at a time whatever the
    flags; Flink, Spark and Dataflow spread the same job over their workers.
    """
    return ["--runner=PortableRunner", f"--job_endpoint=localhost:{self.job_port}",
            "--environment_type=EXTERNAL", f"--environment_config=localhost:{self.worker_pool_port}"]
