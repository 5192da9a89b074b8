"""The live monitor in this process: what its loop asks of the machine, its console line."""
import io

import pytest
import threadpoolctl

import live_parts
from babycry_jax import alert_sinks, listening, live_sources, live_status


def _blas_threads() -> set[int]:
  return {pool["num_threads"] for pool in threadpoolctl.threadpool_info()
          if pool["user_api"] == "blas"}


class _BlasProbe:
  """An observer that notes BLAS's thread counts at every window the loop decides."""

  def __init__(self):
    self.seen: list[set[int]] = []

  def window(self, start_s, end_s, raw, smoothed) -> None:
    self.seen.append(_blas_threads())

  def status(self, snapshot) -> None:
    pass

  def log_mel(self, start_s, frames) -> None:
    pass

  def close(self) -> None:
    pass


def test_the_loop_keeps_blas_on_one_thread_and_gives_the_threads_back(tmp_path):
  """Idle BLAS worker threads spin after each of a hop's small calls (a fifth of a core on two
  cores, `python -m benchmarks --only listen`): the loop keeps BLAS on its own thread."""
  before = _blas_threads()
  if before == {1}:
    pytest.skip("BLAS has one thread here already (one core)")
  path = live_parts.write_wav(tmp_path / "wail.wav", live_parts.wailing(6.0, 16000), 16000)
  probe = _BlasProbe()
  listener = listening.Listener(live_parts.zero_shot_detector(), live_sources.PyavStream(path),
                                listening.ListenSettings(hop_s=0.96), alert_sinks.Alerts([]),
                                [probe])
  assert listener.run() == 0
  assert len(probe.seen) >= 3 and all(seen == {1} for seen in probe.seen)
  assert _blas_threads() == before


def test_the_status_line_prints_every_change_of_state_at_once():
  """Between lines every_s apart, a change of state still gets its line: fed faster than real
  time, a whole cry episode can pass within one interval."""
  stream = io.StringIO()
  line = live_status.StatusLine(stream, every_s=3600.0)
  for state in ("quiet", "quiet", "crying", "crying", "quiet", "offline", "offline"):
    line.status({"time": "2026-12-07T10:00:00", "state": state, "probability": 0.5,
                 "level_dbfs": -40.0, "heard_s": 12.0})
  assert [text.split()[1] for text in stream.getvalue().splitlines()] == [
      "quiet", "crying", "quiet", "offline"]
