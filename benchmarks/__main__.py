"""Runs the benchmark suite on this machine and writes benchmarks/results.json.

    python -m benchmarks [--only train,hw,input,preprocess,detect,listen] [--quick] [--output PATH]

Every figure is a ratio against a baseline measured in the same run, because
the machine is shared and its speed drifts. The TensorFlow baselines run in a
separate venv (benchmarks/tf_env.py), created on first use. The markdown table
printed at the end (machine, date, one row per measurement, goal met or not)
is the one the README carries.
"""
from __future__ import annotations

import datetime
import json
import os
import platform
import sys
import tempfile
import time
from typing import Any, Optional, Sequence

from absl import app, flags

from benchmarks import Protocol

BENCHMARKS = ("train", "hw", "input", "preprocess", "detect", "listen")
DEFAULT_OUTPUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results.json")

# Goals, as ratios to each measurement's baseline.
TRAIN_SPEEDUP_GOAL = 2.0
FUSION_MATMUL_FRACTION_GOAL = 0.35
INPUT_VS_TF_DATA_GOAL = 1.0
INPUT_VS_TRAINING_GOAL = 10.0
DETECT_REALTIME_GOAL = 20.0  # a baby monitor must keep up with many streams
PREPROCESS_SPEEDUP_GOAL = 1.5   # the Beam job with 2 workers against one plain loop
LAUNCHER_MEMORY_GROWTH = 1.2    # the launcher's peak memory at 4x the clips, at most
LISTEN_DELAY_GOAL_S = 2.0       # from a cry's onset to "crying started", at the default hop
LISTEN_CPU_SHARE_GOAL = 0.25    # of one core, listening in real time
LISTEN_MEMORY_GROWTH = 1.05     # resident memory at the end of a day of audio, against hour 1

# Steps are seconds long at the study's sizes on a small CPU: few, but repeated.
# Two warm-up steps, because the pmapped step compiles twice: once for the host
# copy of the state, again once the state is the step's own device output.
FULL = {"train": Protocol(2, 3, 3), "input": Protocol(10, 60, 5), "matmul": Protocol(2, 5, 3),
        "preprocess_clips": 2400, "preprocess_memory_clips": (600, 2400), "detect_duration_s": 60.0,
        "listen_cries": 12, "listen_hours": 24.0}
QUICK = {"train": Protocol(2, 1, 1), "input": Protocol(1, 3, 1), "matmul": Protocol(1, 2, 1),
         "preprocess_clips": 8, "preprocess_memory_clips": (8, 16), "detect_duration_s": 8.0,
         "listen_cries": 2, "listen_hours": 0.2}


def machine() -> dict[str, Any]:
  """CPU model (from /proc/cpuinfo), core counts, date and library versions."""
  model = platform.processor() or platform.machine()
  try:
    with open("/proc/cpuinfo") as f:
      for line in f:
        if line.startswith("model name"):
          model = line.split(":", 1)[1].strip()
          break
  except OSError:
    pass
  import jax
  return {
      "cpu_model": model,
      "cpu_count": os.cpu_count(),
      "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
      "load_average_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
      "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
      "python": platform.python_version(),
      "jax": jax.__version__,
      "jax_devices": f"{jax.local_device_count()} x {jax.devices()[0].platform}",
      "xla_flags": os.environ.get("XLA_FLAGS", ""),
  }


def measurement(name: str, what: str, unit: str, value: float, baseline: float,
                baseline_name: str, goal: Optional[float], notes: str = "",
                at_most: bool = False) -> dict[str, Any]:
  """One results entry; `goal` is the least ratio value/baseline that meets it (None: no goal),
  or with at_most the greatest (a delay, a share of the CPU)."""
  ratio = value / baseline if baseline else float("nan")
  met = None if goal is None else bool(ratio <= goal if at_most else ratio >= goal)
  return {"name": name, "what": what, "unit": unit, "value": value, "baseline": baseline,
          "baseline_name": baseline_name, "ratio": ratio,
          "goal": None if goal is None else f"{'<=' if at_most else '>='} {goal:g}x",
          "met": met, "notes": notes}


# ---------------------------------------------------------------- the benchmarks

def run_train(settings: dict, state: dict, log) -> list[dict[str, Any]]:
  from benchmarks import train_throughput as tt
  rows = []
  for fam in tt.FAMILIES:
    ours, step = tt.measure_ours(fam, settings["train"], return_step=True)
    log(f"[train] {fam.name}: ours {ours['examples_per_s']:.2f} ex/s "
        f"({ours['seconds_per_step']:.2f} s/step, batch {ours['batch_size']})")
    keras = tt.measure_keras(fam, settings["train"])
    log(f"[train] {fam.name}: Keras {keras['examples_per_s']:.2f} ex/s "
        f"({keras['seconds_per_step']:.2f} s/step) -> {ours['examples_per_s'] / keras['examples_per_s']:.2f}x")
    state["steps"][fam.name] = step
    state["ours"][fam.name] = ours
    state["details"].setdefault("train", {})[fam.name] = {"ours": ours, "keras": keras}
    rows.append(measurement(
        f"train/{fam.name}", f"training examples/s, {ours['model']} at batch {ours['batch_size']}",
        "examples/s", ours["examples_per_s"], keras["examples_per_s"],
        f"Keras {keras['keras']} (TF {keras['tensorflow']}) train_on_batch", TRAIN_SPEEDUP_GOAL,
        f"params ours {ours['param_count']:,} / Keras {keras['param_count']:,}; "
        f"{ours['optimizer']}; {ours['local_devices']} device(s), Keras jit_compile="
        f"{keras['jit_compile']}, {keras['threads']} TF threads"))
  return rows


def _timed_step(name: str, settings: dict, state: dict, log):
  """The OurStep and its result for a family, timing it now if `train` did not run."""
  from benchmarks import train_throughput as tt
  if name not in state["steps"]:
    ours, step = tt.measure_ours(tt.family(name), settings["train"], return_step=True)
    log(f"[hw] {name}: ours {ours['examples_per_s']:.2f} ex/s")
    state["steps"][name], state["ours"][name] = step, ours
  return state["steps"][name], state["ours"][name]


def run_hw(settings: dict, state: dict, log) -> list[dict[str, Any]]:
  from benchmarks import hardware_efficiency as he
  from benchmarks import train_throughput as tt
  matmul = he.matmul_flops_per_s(protocol=settings["matmul"])
  log(f"[hw] matmul {he.MATMUL_SIZE}^3 float32: {matmul['flops_per_s'] / 1e9:.1f} GFLOP/s")
  steps, ours = {}, {}
  for name in tt.FAMILY_NAMES:
    steps[name], ours[name] = _timed_step(name, settings, state, log)
  # The matmul again after the steps: the machine's load may have changed meanwhile.
  matmul_after = he.matmul_flops_per_s(protocol=settings["matmul"])
  matmul["flops_per_s_after"] = matmul_after["flops_per_s"]
  matmul["flops_per_s"] = max(matmul["flops_per_s"], matmul_after["flops_per_s"])
  results = he.run(ours, steps, matmul)
  state["details"]["hw"] = {"matmul": matmul, "steps": results}
  rows = []
  for name, r in results.items():
    goal = FUSION_MATMUL_FRACTION_GOAL if name == "fusion_cnn_3dcnn_lstm" else None
    log(f"[hw] {name}: {r['flops_per_example'] / 1e9:.3f} GFLOP/example -> "
        f"{r['flops_per_s'] / 1e9:.1f} GFLOP/s = {100 * r['fraction_of_matmul']:.0f}% of the matmul")
    rows.append(measurement(
        f"hw/{name}", "train step FLOP/s (FLOPs/example x examples/s)", "GFLOP/s",
        r["flops_per_s"] / 1e9, matmul["flops_per_s"] / 1e9,
        f"jitted {he.MATMUL_SIZE}x{he.MATMUL_SIZE} float32 matmul", goal,
        f"{r['flops_per_example'] / 1e9:.3f} GFLOP/example ({r['source']})"))
  return rows


def run_input(settings: dict, state: dict, log) -> list[dict[str, Any]]:
  from benchmarks import input_pipeline_speed as ips
  dataset_dir = ips.ensure_dataset(log=log)
  tf_data = ips.measure_tf_data(dataset_dir, settings["input"])
  log(f"[input] tf.data {tf_data['examples_per_s']:.1f} ex/s")
  baseline_name = f"tf.data (TF {tf_data['tensorflow']}) parse_single_example + batch + prefetch"
  # The config's default (-1: one worker per core, none on 1-2 cores), then 0, 1 and 2
  # workers, each against the same tf.data figure.
  runs = {}
  for worker_count in (-1, 0, 1, 2):
    runs[worker_count] = ips.measure_ours(dataset_dir, settings["input"], worker_count)
    log(f"[input] Grain loader, {runs[worker_count]['worker_count']} workers"
        f"{' (default)' if worker_count == -1 else ''}: "
        f"{runs[worker_count]['examples_per_s']:.1f} ex/s")
  ours = runs[-1]
  stages = ips.stage_breakdown(dataset_dir)
  _, fusion = _timed_step("fusion_cnn_3dcnn_lstm", settings, state, log)
  state["details"]["input"] = {"dataset_dir": dataset_dir, "ours": ours, "tf_data": tf_data,
                               "by_worker_count": {str(k): v for k, v in runs.items() if k >= 0},
                               "stages_ms_per_record": stages}
  where = f"{ours['records']} train records of {dataset_dir}, batch {ours['batch_size']}"
  rows = [
      measurement("input/vs_tf_data",
                  f"Grain loader examples/s, default {ours['worker_count']} workers (-1)",
                  "examples/s", ours["examples_per_s"], tf_data["examples_per_s"], baseline_name,
                  INPUT_VS_TF_DATA_GOAL, where),
      measurement("input/vs_training", "loader examples/s against what training consumes",
                  "examples/s", ours["examples_per_s"], fusion["examples_per_s"],
                  "fusion_cnn_3dcnn_lstm train step (paper size)", INPUT_VS_TRAINING_GOAL, where),
  ]
  for worker_count in (0, 1, 2):
    rows.append(measurement(
        f"input/workers_{worker_count}", f"Grain loader examples/s, {worker_count} workers",
        "examples/s", runs[worker_count]["examples_per_s"], tf_data["examples_per_s"],
        baseline_name, None, where))
  return rows


def run_preprocess(settings: dict, state: dict, log) -> list[dict[str, Any]]:
  from benchmarks import preprocess_speed
  result = preprocess_speed.run(num_clips=settings["preprocess_clips"],
                                memory_clips=settings["preprocess_memory_clips"], workers=2, verbose=False)
  state["details"]["preprocess"] = result
  sequential = result["sequential"]["clips_per_s"]
  labels = {"direct": "Beam DirectRunner, 2 workers", "portable": "Beam portable path (local job service)"}
  rows = []
  for mode in preprocess_speed.MODES:
    beam = result[mode]
    log(f"[preprocess] {labels[mode]}: {beam['clips_per_s']:.2f} clips/s (loop {sequential:.2f})")
    rows.append(measurement(
        f"preprocess/{mode}", f"{labels[mode]}, clips/s", "clips/s", beam["clips_per_s"], sequential,
        "sequential loop, same feature code", PREPROCESS_SPEEDUP_GOAL,
        f"{beam['records']} records from {settings['preprocess_clips']} embedded-default clips, end to end"))
  small, large = (str(c) for c in settings["preprocess_memory_clips"])
  for mode in preprocess_speed.MODES:
    memory = result["memory"][mode]
    log(f"[preprocess] launcher peak memory, {mode}: {memory[small]:.0f} MiB ({small} clips), "
        f"{memory[large]:.0f} MiB ({large} clips)")
    rows.append(measurement(
        f"preprocess/launcher_memory_{mode}", f"launcher peak RSS at {small} clips / at {large} clips, {mode}",
        "MiB", memory[small], memory[large], f"peak RSS at {large} clips", 1 / LAUNCHER_MEMORY_GROWTH,
        f"{memory[small]:.0f} vs {memory[large]:.0f} MiB; goal: {large} clips within "
        f"{LAUNCHER_MEMORY_GROWTH:g}x of {small}"))
  return rows


def run_detect(settings: dict, state: dict, log) -> list[dict[str, Any]]:
  from benchmarks import detect_speed
  result = detect_speed.run(duration_s=settings["detect_duration_s"], verbose=False)
  state["details"]["detect"] = result
  log(f"[detect] {result['realtime_factor']:.1f}x real time on a {result['duration_s']:.0f} s video")
  biggest = max(result["breakdown_fraction"], key=result["breakdown_fraction"].get)
  return [measurement(
      "detect/realtime", f"media seconds per wall second, {result['duration_s']:.0f} s video",
      "x real time", result["realtime_factor"], 1.0, "real time", DETECT_REALTIME_GOAL,
      f"model {result['model']}, {result['num_windows']} windows; largest share: {biggest} "
      f"{100 * result['breakdown_fraction'][biggest]:.0f}%")]


def run_listen(settings: dict, state: dict, log) -> list[dict[str, Any]]:
  from benchmarks import listen_live
  live = {hop: listen_live.measure_delay_and_cpu(settings["listen_cries"], hop) for hop in (0.5, 0.25)}
  memory = listen_live.measure_memory(settings["listen_hours"],
                                      sample_every_h=max(settings["listen_hours"] / 24, 0.05))
  state["details"]["listen"] = {"hop_0.5": live[0.5], "hop_0.25": live[0.25], "memory": memory}
  rows = []
  for hop, result in live.items():
    default = " (the default hop)" if hop == 0.5 else ""
    log(f"[listen] hop {hop} s: {result['alerted']}/{result['cries']} cries alerted, median delay "
        f"{result['median_delay_s']:.2f} s, max {result['max_delay_s']:.2f} s, CPU "
        f"{100 * result['cpu_share']:.1f}% of a core")
    def listed(values):
      return ", ".join("-" if d is None else f"{d:.2f}" for d in values)
    notes = (f"{result['alerted']} of {result['cries']} real cries alerted, "
             f"{result['false_alerts']} other alerts; delays {listed(result['delays_s'])} s "
             f"(on the audio's clock {listed(result['stream_delays_s'])} s)")
    rows.append(measurement(
        f"listen/delay_hop_{hop:g}", f"median s from a cry's onset to its alert, hop {hop:g} s{default}",
        "s", result["median_delay_s"], LISTEN_DELAY_GOAL_S, "the goal", 1.0 if hop == 0.5 else None,
        notes + f"; the longest {result['max_delay_s']:.2f} s", at_most=True))
    rows.append(measurement(
        f"listen/cpu_hop_{hop:g}", f"share of one core listening in real time, hop {hop:g} s{default}",
        "share", result["cpu_share"], LISTEN_CPU_SHARE_GOAL, "the goal", 1.0 if hop == 0.5 else None,
        f"{result['cpu_s']:.1f} CPU s over {result['wall_s']:.0f} s of listening", at_most=True))
  log(f"[listen] memory: {memory['rss_first_mib']:.0f} MiB after the first hour, "
      f"{memory['rss_last_mib']:.0f} MiB after {memory['hours']:g} h of audio "
      f"({memory['speed_x_real_time']:.0f}x real time)")
  rss = ", ".join(f"{sample['rss_mib']:.0f}" for sample in memory["samples"])
  rows.append(measurement(
      "listen/memory", f"most resident MiB over {memory['hours']:g} h of audio / after the first hour",
      "MiB", memory["rss_max_mib"], memory["rss_first_mib"], "after the first hour",
      LISTEN_MEMORY_GROWTH,
      f"fed {memory['speed_x_real_time']:.0f}x faster than real time at hop {memory['hop_s']:g} s, "
      f"{memory['episodes']} cry episodes; RSS every {memory['samples'][1]['audio_h']:g} h: {rss}",
      at_most=True))
  return rows


RUNNERS = {"train": run_train, "hw": run_hw, "input": run_input, "preprocess": run_preprocess,
           "detect": run_detect, "listen": run_listen}


# ---------------------------------------------------------------- profile notes

def profile_notes(rows: list[dict[str, Any]], state: dict, log) -> tuple[str, dict[str, Any]]:
  """Where goals were missed: what dominates each step (jax.profiler) and the loader's stages."""
  from benchmarks import hardware_efficiency as he
  missed = [r["name"] for r in rows if r["met"] is False]
  families = []
  for name in missed:
    family = name.split("/", 1)[1] if name.startswith(("train/", "hw/")) else None
    if family and family in state["steps"] and family not in families:
      families.append(family)
  profiles, sentences = {}, []
  for family in families:
    log(f"[profile] {family}")
    profiles[family] = he.profile_step(state["steps"][family])
    sentences.append(he.describe_profile(family, profiles[family]))
  stages = state["details"].get("input", {}).get("stages_ms_per_record")
  if stages and any(n.startswith("input/") for n in missed):
    total = sum(stages.values())
    biggest = max(stages, key=stages.get)
    sentences.append(
        f"input: {total:.2f} ms of CPU per record in our loader, one thread, "
        f"{100 * stages[biggest] / total:.0f}% in {biggest} ({', '.join(f'{k} {v:.2f} ms' for k, v in stages.items())})")
  preprocess = state["details"].get("preprocess")
  if preprocess and any(n.startswith("preprocess/") for n in missed):
    memory = {mode: ", ".join(f"{mib:.0f} at {clips}" for clips, mib in by_clips.items())
              for mode, by_clips in preprocess["memory"].items()}
    sentences.append(
        f"preprocess: loop {preprocess['sequential']['clips_per_s']:.1f} clips/s, DirectRunner "
        f"{preprocess['direct']['clips_per_s']:.1f}, portable {preprocess['portable']['clips_per_s']:.1f} "
        "(Beam's local job service runs one SDK worker); launcher peak MiB at N clips: direct "
        f"{memory['direct']}; portable {memory['portable']}")
  if not sentences:
    return "Every goal with a target was met in this run.", profiles
  return ("Goals missed: " + ", ".join(missed) + ". What dominates, measured in this run: "
          + ". ".join(sentences) + "."), profiles


# ---------------------------------------------------------------- output

def _fmt(value: float) -> str:
  if value != value:  # NaN
    return "n/a"
  return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"


def markdown_table(results: dict[str, Any]) -> str:
  m = results["machine"]
  lines = [
      f"Measured {m['date'][:10]} on {m['cpu_model']}, {m['cpu_count']} cores "
      f"(load average {m['load_average_1min']:.1f} at the start; the machine is shared), "
      f"JAX {m['jax']} on {m['jax_devices']}; suite time {results['elapsed_s'] / 60:.1f} min"
      f"{' (--quick)' if results['quick'] else ''}.",
      "",
      "| benchmark | ours | baseline | ratio | goal | met |",
      "| --- | --- | --- | --- | --- | --- |",
  ]
  for r in results["measurements"]:
    met = {True: "yes", False: "**no**", None: "-"}[r["met"]]
    lines.append(f"| {r['name']} ({r['unit']}) | {_fmt(r['value'])} | {_fmt(r['baseline'])} "
                 f"{r['baseline_name']} | {r['ratio']:.2f}x | {r['goal'] or '-'} | {met} |")
  return "\n".join(lines)


def write_json(path: str, results: dict[str, Any]) -> None:
  """Writes atomically: a temp file in the same dir, then a rename."""
  directory = os.path.dirname(os.path.abspath(path))
  fd, tmp = tempfile.mkstemp(prefix=".results_", suffix=".json", dir=directory)
  try:
    with os.fdopen(fd, "w") as f:
      json.dump(results, f, indent=2, default=_json_default)
      f.write("\n")
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise


def _json_default(value: Any) -> Any:
  if hasattr(value, "tolist"):
    return value.tolist()
  return str(value)


def run_suite(only: Sequence[str] = BENCHMARKS, quick: bool = False,
              output: Optional[str] = DEFAULT_OUTPUT, log=print) -> dict[str, Any]:
  """Runs the selected benchmarks; returns (and writes to `output`) the results.

  Returns:
    {"machine", "command", "quick", "elapsed_s", "measurements": [measurement(...)],
     "profile_notes": str, "details": {benchmark: raw results}, "errors": {benchmark: message}}
  """
  unknown = [b for b in only if b not in BENCHMARKS]
  if unknown:
    raise ValueError(f"unknown benchmark(s) {unknown}; choose from {', '.join(BENCHMARKS)}")
  started = time.perf_counter()
  settings = QUICK if quick else FULL
  if any(b in only for b in ("train", "input")):
    from benchmarks import tf_env
    tf_env.ensure(log=log)
  results: dict[str, Any] = {"machine": machine(), "command": " ".join(["python -m benchmarks"] + sys.argv[1:]),
                             "quick": quick}
  state: dict[str, Any] = {"steps": {}, "ours": {}, "details": {}}
  rows, errors = [], {}
  for name in BENCHMARKS:
    if name not in only:
      continue
    t0 = time.perf_counter()
    try:
      rows += RUNNERS[name](settings, state, log)
    except Exception as e:  # one failing benchmark must not lose the others' results
      errors[name] = f"{type(e).__name__}: {e}"
      log(f"[{name}] FAILED: {errors[name]}")
    log(f"[{name}] {time.perf_counter() - t0:.0f} s")
  notes, profiles = profile_notes(rows, state, log)
  state["details"]["profiles"] = profiles
  results.update(elapsed_s=time.perf_counter() - started, measurements=rows, profile_notes=notes,
                 details=state["details"], errors=errors)
  if output:
    write_json(output, results)
  return results


FLAGS = flags.FLAGS
flags.DEFINE_list("only", list(BENCHMARKS), f"Subset of {','.join(BENCHMARKS)}.")
flags.DEFINE_bool("quick", False, "Few steps and small inputs: a smoke run.")
flags.DEFINE_string("output", DEFAULT_OUTPUT, "Results JSON path.")


def main(argv: Sequence[str]) -> int:
  if len(argv) > 1:
    print(f"error: unexpected arguments {list(argv[1:])}", file=sys.stderr)
    return 2
  only = [b.strip() for b in FLAGS.only if b.strip()]
  try:
    results = run_suite(only, FLAGS.quick, FLAGS.output, log=lambda s: print(s, flush=True))
  except ValueError as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  print()
  print(markdown_table(results))
  print()
  print("profile_notes:", results["profile_notes"])
  if FLAGS.output:
    print(f"results written to {FLAGS.output}")
  return 1 if results["errors"] else 0


if __name__ == "__main__":
  from babycry_jax import console
  app.run(main, flags_parser=console.parse_flags)
