"""Hardware efficiency: the FLOP/s a train step reaches as a fraction of a large matmul's.

    python -m benchmarks --only hw [--quick]

The numerator is XLA's FLOP count of the compiled pmapped train step (one
device's program, divided by its examples) times the examples/s measured for
that step; the denominator is the FLOP/s of a jitted float32 2048x2048 @
2048x2048 matmul, warm, measured in the same run. The fraction says how much of
what this CPU demonstrably sustains the step uses.

XLA counts a loop body once, so for the `lstm` model (a 300-step scanned
recurrence) the count is replaced by the analytic LSTM cost; results say which
count was used.

`profile_step` runs the step under jax.profiler and sums the time of every
compiled op, which is what the suite reports where a step misses its goal.
"""
from __future__ import annotations

import collections
import glob
import gzip
import json
import os
import re
import tempfile
from typing import Any, Sequence


from benchmarks import Protocol, time_calls

MATMUL_SIZE = 2048


def matmul_flops_per_s(size: int = MATMUL_SIZE, protocol: Protocol = Protocol(2, 5, 3)) -> dict[str, Any]:
  """FLOP/s of a jitted float32 [size, size] @ [size, size] matmul (2 size^3 FLOPs a call)."""
  import jax
  import jax.numpy as jnp
  keys = jax.random.split(jax.random.key(0))
  a = jax.random.normal(keys[0], (size, size), jnp.float32)
  b = jax.random.normal(keys[1], (size, size), jnp.float32)
  matmul = jax.jit(jnp.matmul)
  timing = time_calls(lambda: matmul(a, b), jax.block_until_ready, protocol)
  flops = 2.0 * size ** 3
  return {"flops_per_s": flops / timing["seconds_per_call"], "size": size,
          "seconds_per_call": timing["seconds_per_call"], "runs_s": timing["runs_s"]}


def lstm_train_flops_per_example(steps: int, input_dim: int, units: Sequence[int]) -> float:
  """Analytic FLOPs of forward + backward through stacked LSTMs, per example.

  A step of a layer is one [in + units] x [4 units] matmul (2 FLOPs a
  multiply-add); the backward pass costs about twice the forward.
  """
  forward = 0.0
  for u in units:
    forward += steps * 2.0 * (input_dim + u) * 4 * u
    input_dim = u
  return 3.0 * forward


def step_flops(step) -> dict[str, Any]:
  """FLOPs per training example of a train_throughput.OurStep, and where the count came from."""
  xla = step.train_flops_per_example()
  if step.config.model == "lstm":
    kwargs = step.config.model_kwargs.to_dict()
    analytic = lstm_train_flops_per_example(
        step.config.audio_frames, step.batch["log_mel"].shape[-1],
        (kwargs.get("first_units", 50), kwargs.get("second_units", 100)))
    return {"flops_per_example": max(xla, analytic), "xla_flops_per_example": xla,
            "source": "analytic LSTM count (XLA counts the 300-step loop body once)"}
  return {"flops_per_example": xla, "xla_flops_per_example": xla,
          "source": "XLA cost analysis of the compiled step"}


def _op_labels(hlo_text: str) -> dict[str, str]:
  """Instruction name -> "shape: jax op path" from compiled HLO text (fusions use their body's)."""
  bodies: dict[str, str] = {}
  current = None
  for line in hlo_text.splitlines():
    header = re.match(r"^(?:ENTRY )?%?([\w.\-]+) .*\{$", line)
    if header:
      current = header.group(1)
      bodies[current] = ""
    elif current is not None:
      bodies[current] += line + "\n"
  labels = {}
  for line in hlo_text.splitlines():
    m = re.match(r"^\s+(?:ROOT )?%?([\w.\-]+) = (\S+) ", line)
    if not m:
      continue
    name, shape = m.groups()
    where = re.search(r'op_name="([^"]+)"', line)
    called = re.search(r"calls=%?([\w.\-]+)", line)
    body = bodies.get(called.group(1), "") if called else ""
    if where is None and body:
      where = re.search(r'op_name="([^"]+)"', body)
    if where is not None:
      path = re.sub(r"^(jit|pmap)\([^)]*\)/", "", where.group(1))
    else:
      path = _describe_body(body) or "?"
    labels[name] = f"{shape}: {path}"
  return labels


def _describe_body(body: str) -> str:
  """What a fused computation without source metadata computes, from its root instruction."""
  root = re.search(r"ROOT %?[\w.\-]+ = (\S+) (\w+)\(([^)]*)\)(.*)", body)
  if root is None:
    return ""
  _, opcode, _, attributes = root.groups()
  if opcode != "convolution":
    return opcode
  window = re.search(r"window=\{size=([\dx]+)", attributes)
  window_size = [int(d) for d in window.group(1).split("x")] if window else []
  # A window as large as the activations means the conv computes a kernel gradient.
  if window_size and min(window_size) > 7:
    return f"convolution kernel gradient (window {window.group(1)})"
  return "convolution"


def profile_step(step, num_steps: int = 2, top: int = 6) -> dict[str, Any]:
  """Per-op time of `num_steps` calls of a warm step, from a jax.profiler trace.

  Returns:
    {"ops": [{"name", "label", "ms_per_step", "share"}] (largest first, `top` of them),
     "op_ms_per_step": time summed over all compiled ops, "wall_ms_per_step"}
  """
  import time

  import jax
  labels = _op_labels(step.compiled().as_text())
  step()
  jax.block_until_ready(step.metrics)
  trace_dir = tempfile.mkdtemp(prefix="step_profile_")
  started = time.perf_counter()
  with jax.profiler.trace(trace_dir, create_perfetto_trace=True):
    for _ in range(num_steps):
      step()
    jax.block_until_ready(step.metrics)
  wall_ms = (time.perf_counter() - started) * 1e3 / num_steps
  files = glob.glob(os.path.join(trace_dir, "**", "*.trace.json.gz"), recursive=True)
  if not files:
    raise RuntimeError(f"jax.profiler wrote no trace under {trace_dir}")
  with gzip.open(files[0]) as f:
    trace = json.load(f)
  events = trace["traceEvents"] if isinstance(trace, dict) else trace
  per_op: collections.Counter = collections.Counter()
  for event in events:
    if event.get("ph") == "X" and event.get("name") in labels:
      per_op[event["name"]] += event.get("dur", 0.0) / 1e3 / num_steps
  total = sum(per_op.values())
  ops = [{"name": name, "label": labels[name], "ms_per_step": ms,
          "share": ms / total if total else 0.0} for name, ms in per_op.most_common(top)]
  return {"ops": ops, "op_ms_per_step": total, "wall_ms_per_step": wall_ms}


def describe_profile(family: str, profile: dict[str, Any], top: int = 3) -> str:
  """One sentence naming the ops that dominate a step."""
  parts = []
  for op in profile["ops"][:top]:
    shape, _, path = op["label"].partition(": ")
    kind = "backward " if "transpose(" in path else ""
    short = re.sub(r"transpose\(|jvp\(|\)", "", path)
    shape = re.sub(r"\{[^}]*\}", "", shape)
    parts.append(f"{100 * op['share']:.0f}% {kind}{short} -> {shape}")
  return (f"{family}: {profile['op_ms_per_step']:.0f} ms of ops per step; largest: "
          + "; ".join(parts))


def run(step_results: dict[str, Any], steps: dict[str, Any], matmul: dict[str, Any]) -> dict[str, Any]:
  """Fraction of the matmul's FLOP/s each measured step reaches.

  Args:
    step_results: per family, measure_ours' result (examples_per_s, model).
    steps: per family, the OurStep that was timed (for its compiled program).
    matmul: matmul_flops_per_s' result.

  Returns:
    {family: {"flops_per_example", "flops_per_s", "fraction_of_matmul", "source", ...}}
  """
  results = {}
  for name, ours in step_results.items():
    flops = step_flops(steps[name])
    flops_per_s = flops["flops_per_example"] * ours["examples_per_s"]
    results[name] = {**flops, "examples_per_s": ours["examples_per_s"], "flops_per_s": flops_per_s,
                     "matmul_flops_per_s": matmul["flops_per_s"],
                     "fraction_of_matmul": flops_per_s / matmul["flops_per_s"]}
  return results
