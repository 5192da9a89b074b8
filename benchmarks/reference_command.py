"""The command line both TensorFlow-side references share: `--spec JSON` and the timing protocol.

It runs in the TensorFlow venv (benchmarks.tf_env), which has absl through TensorFlow, and
prints one JSON line with what `measure(spec, protocol, threads)` returns.
"""
from __future__ import annotations

import json
import os
import sys
from typing import Any, Callable

from absl import app, flags

from benchmarks import Protocol


def run(measure: Callable[[dict, Protocol, int], dict[str, Any]], spec_help: str) -> None:
  """Defines the flags, parses them and prints measure's result as one JSON line."""
  flags.DEFINE_string("spec", None, spec_help)
  flags.DEFINE_integer("threads", os.cpu_count(), "Intra- and inter-op threads.")
  flags.DEFINE_integer("warmup_steps", Protocol.warmup_steps, "Untimed calls first.")
  flags.DEFINE_integer("timed_steps", Protocol.timed_steps, "Calls per timed run.")
  flags.DEFINE_integer("repeats", Protocol.repeats, "Timed runs.")
  flags.mark_flag_as_required("spec")

  def main(argv) -> None:
    del argv
    f = flags.FLAGS
    protocol = Protocol(f.warmup_steps, f.timed_steps, f.repeats)
    sys.stdout.write(json.dumps(measure(json.loads(f.spec), protocol, f.threads)) + "\n")

  app.run(main)
