"""What a user sees while the job runs.

Every worker logs one line per input it finishes ("input 120 of 2400, ...:
1 windows (this worker: 60 inputs, 60 records, 1 failed)"). The DirectRunner
prints them on the launcher's console; a job service or worker pool prints
them on its own; Dataflow keeps them in Cloud Logging. Runners whose counters
can be read while the job runs (Dataflow) also get a launcher line every
`interval_s`: inputs done of the total, records written, failures so far.
"""
from __future__ import annotations

from typing import Callable

from apache_beam.metrics.metric import MetricsFilter
from apache_beam.runners.runner import PipelineResult, PipelineState

from preprocess import decode_source

# Results whose metrics() are live while the job runs (a portable job service
# answers only once the job is done, and its result keeps that first answer).
_LIVE_METRICS_RESULTS = ("DataflowPipelineResult",)


def counts(result: PipelineResult) -> dict[str, int]:
  """The job's counters by name (attempted: what workers did so far, retries included)."""
  found: dict[str, int] = {}
  query = result.metrics().query(MetricsFilter().with_namespace(decode_source.METRICS_NAMESPACE))
  for counter in query["counters"]:
    found[counter.key.metric.name] = found.get(counter.key.metric.name, 0) + (counter.attempted or 0)
  return found


def line(found: dict[str, int], num_inputs: int) -> str:
  failed = sum(v for k, v in found.items() if k.startswith("failed_"))
  return (f"progress: {found.get('inputs_read', 0)} of {num_inputs} inputs, "
          f"{found.get('records_written', 0)} records, {failed} failed")


def follow(result: PipelineResult, num_inputs: int, log: Callable[[str], None],
           interval_s: float = 30.0) -> None:
  """Waits until the job ends (raising if it failed), logging progress where the runner allows."""
  if type(result).__name__ in _LIVE_METRICS_RESULTS:
    last = None
    while not PipelineState.is_terminal(result.state):
      result.wait_until_finish(duration=int(interval_s * 1000))
      now = line(counts(result), num_inputs)
      if now != last:
        log(now)
        last = now
  state = result.wait_until_finish()
  if state != PipelineState.DONE:
    raise RuntimeError(f"the Beam job ended in state {state}")
