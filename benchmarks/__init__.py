"""Benchmarks: `python -m benchmarks` runs the suite (see benchmarks/README.md).

This module holds the timing protocol both sides of every comparison use (our
JAX code here, the TensorFlow baselines in their own venv), so it imports the
standard library only.
"""
from __future__ import annotations

import dataclasses
import statistics
import time
from typing import Callable


@dataclasses.dataclass(frozen=True)
class Protocol:
  """Warm-up calls, then `repeats` timed runs of `steps` calls each.

  Attributes:
    warmup_steps: untimed calls first (compilation, caches, thread pools).
    timed_steps: calls per timed run.
    repeats: timed runs; the median run is reported, which shrugs off a
      neighbour's burst of load on a shared machine.
  """
  warmup_steps: int = 3
  timed_steps: int = 10
  repeats: int = 3

  def to_args(self) -> list[str]:
    return ["--warmup_steps", str(self.warmup_steps), "--timed_steps", str(self.timed_steps),
            "--repeats", str(self.repeats)]


def time_calls(call: Callable[[], object], finish: Callable[[object], None],
               protocol: Protocol) -> dict[str, float]:
  """Times `call` under `protocol`; `finish(last_result)` waits for asynchronous work.

  Returns:
    {"seconds_per_call": median over repeats, "runs_s": [seconds per call of each run],
     "warmup_s": wall time of the warm-up calls (compilation included)}
  """
  started = time.perf_counter()
  result = None
  for _ in range(protocol.warmup_steps):
    result = call()
  finish(result)
  warmup_s = time.perf_counter() - started
  runs = []
  for _ in range(protocol.repeats):
    started = time.perf_counter()
    for _ in range(protocol.timed_steps):
      result = call()
    finish(result)
    runs.append((time.perf_counter() - started) / protocol.timed_steps)
  return {"seconds_per_call": statistics.median(runs), "runs_s": runs, "warmup_s": warmup_s}
