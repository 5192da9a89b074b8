"""The benchmarks of the suite, by name: their goals, their sizes and a runner each.

Adding a benchmark is one runner function here and one entry in SUITES. The
runner takes (settings, state, log), returns its rows (`measurement.measurement`)
and puts its raw figures in `state.details[name]`; the entry names the runner,
the sizes it reads from `settings` in a full and in a --quick run, what explains
its missed goals (optional, see profile_notes) and whether its baseline needs
the TensorFlow venv. `python -m benchmarks --only NAME` then runs it and writes
its own results file, and `python -m benchmarks --table` shows its rows.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Optional

from benchmarks import Protocol, profile_notes
from benchmarks.measurement import measurement

Log = Callable[[str], None]

# Goals, as ratios to each measurement's baseline.
TRAIN_SPEEDUP_GOAL = 2.0
FUSION_MATMUL_FRACTION_GOAL = 0.35
INPUT_VS_TF_DATA_GOAL = 1.0
INPUT_VS_TRAINING_GOAL = 10.0
DETECT_REALTIME_GOAL = 20.0  # a baby monitor must keep up with many streams
DETECT_CLIPS_REALTIME_GOAL = 100.0  # a folder of short clips, whole command on one core
PREPROCESS_SPEEDUP_GOAL = 1.5   # the Beam job with 2 workers against one plain loop
LAUNCHER_MEMORY_GROWTH = 1.2    # the launcher's peak memory at 4x the clips, at most
LISTEN_DELAY_GOAL_S = 2.0       # from a cry's onset to "crying started", at the default hop
LISTEN_CPU_SHARE_GOAL = 0.25    # of one core, listening in real time
LISTEN_MEMORY_GROWTH = 1.05     # resident memory at the end of a day of audio, against hour 1


@dataclasses.dataclass
class SharedState:
  """What the benchmarks of one run hand each other.

  Attributes:
    steps: per model family, the timed OurStep (hw, input and the profiles reuse train's).
    ours: per model family, measure_ours' result for that step.
    details: per benchmark, its raw figures (they go into its results file).
    profiles: per model family, profile_step's breakdown, taken once per run.
  """
  steps: dict[str, Any] = dataclasses.field(default_factory=dict)
  ours: dict[str, Any] = dataclasses.field(default_factory=dict)
  details: dict[str, Any] = dataclasses.field(default_factory=dict)
  profiles: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Suite:
  """One benchmark.

  Attributes:
    run: (settings, state, log) -> its rows.
    full: the settings it reads, at the sizes its figures are reported at.
    quick: the same settings for a smoke run (--quick).
    explain: (missed row names, state, log) -> (sentences on what dominates,
      the raw figures behind them); None: its misses are only named.
    needs_tf_venv: its baseline runs in the TensorFlow venv (benchmarks/tf_env.py).
  """
  run: Callable[[dict[str, Any], SharedState, Log], list[dict[str, Any]]]
  full: dict[str, Any]
  quick: dict[str, Any]
  explain: Optional[Callable[[list[str], SharedState, Log], tuple[list[str], dict[str, Any]]]] = None
  needs_tf_venv: bool = False


def run_train(settings: dict, state: SharedState, log: Log) -> list[dict[str, Any]]:
  from benchmarks import train_throughput as tt
  rows = []
  for fam in tt.FAMILIES:
    ours, step = tt.measure_ours(fam, settings["train"], return_step=True)
    log(f"[train] {fam.name}: ours {ours['examples_per_s']:.2f} ex/s "
        f"({ours['seconds_per_step']:.2f} s/step, batch {ours['batch_size']})")
    keras = tt.measure_keras(fam, settings["train"])
    log(f"[train] {fam.name}: Keras {keras['examples_per_s']:.2f} ex/s "
        f"({keras['seconds_per_step']:.2f} s/step) -> {ours['examples_per_s'] / keras['examples_per_s']:.2f}x")
    state.steps[fam.name] = step
    state.ours[fam.name] = ours
    state.details.setdefault("train", {})[fam.name] = {"ours": ours, "keras": keras}
    rows.append(measurement(
        f"train/{fam.name}", f"training examples/s, {ours['model']} at batch {ours['batch_size']}",
        "examples/s", ours["examples_per_s"], keras["examples_per_s"],
        f"Keras {keras['keras']} (TF {keras['tensorflow']}) train_on_batch", TRAIN_SPEEDUP_GOAL,
        f"params ours {ours['param_count']:,} / Keras {keras['param_count']:,}; "
        f"{ours['optimizer']}; {ours['local_devices']} device(s), Keras jit_compile="
        f"{keras['jit_compile']}, {keras['threads']} TF threads"))
  return rows


def _timed_step(name: str, settings: dict, state: SharedState, log: Log):
  """The OurStep and its result for a family, timing it now if `train` did not run."""
  from benchmarks import train_throughput as tt
  if name not in state.steps:
    ours, step = tt.measure_ours(tt.family(name), settings["train"], return_step=True)
    log(f"[hw] {name}: ours {ours['examples_per_s']:.2f} ex/s")
    state.steps[name], state.ours[name] = step, ours
  return state.steps[name], state.ours[name]


def run_hw(settings: dict, state: SharedState, log: Log) -> list[dict[str, Any]]:
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
  state.details["hw"] = {"matmul": matmul, "steps": results}
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


def run_input(settings: dict, state: SharedState, log: Log) -> list[dict[str, Any]]:
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
  state.details["input"] = {"dataset_dir": dataset_dir, "ours": ours, "tf_data": tf_data,
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


def run_preprocess(settings: dict, state: SharedState, log: Log) -> list[dict[str, Any]]:
  from benchmarks import preprocess_speed
  result = preprocess_speed.run(num_clips=settings["preprocess_clips"],
                                memory_clips=settings["preprocess_memory_clips"], workers=2, verbose=False)
  state.details["preprocess"] = result
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


def run_detect(settings: dict, state: SharedState, log: Log) -> list[dict[str, Any]]:
  from benchmarks import detect_speed
  result = detect_speed.run(duration_s=settings["detect_duration_s"], verbose=False)
  state.details["detect"] = result
  log(f"[detect] {result['realtime_factor']:.1f}x real time on a {result['duration_s']:.0f} s video")
  biggest = max(result["breakdown_fraction"], key=result["breakdown_fraction"].get)
  return [measurement(
      "detect/realtime", f"media seconds per wall second, {result['duration_s']:.0f} s video",
      "x real time", result["realtime_factor"], 1.0, "real time", DETECT_REALTIME_GOAL,
      f"model {result['model']}, {result['num_windows']} windows; largest share: {biggest} "
      f"{100 * result['breakdown_fraction'][biggest]:.0f}%")]


def run_detect_clips(settings: dict, state: SharedState, log: Log) -> list[dict[str, Any]]:
  from benchmarks import detect_clips
  result = detect_clips.run(settings["detect_clips_model"], repeats=settings["detect_clips_repeats"])
  state.details["detect_clips"] = result
  log(f"[detect_clips] {result['files']} clips, {result['audio_s']:.0f} s of audio: ours "
      f"{result['ours_realtime']:.1f}x real time, the TFLite peer {result['peer_realtime']:.1f}x")
  where = (f"{result['files']} real clips ({result['audio_s']:.0f} s), one core, whole command; "
           f"shipped model {result['shipped_model']}, compiled model cached "
           f"(first run {result['ours_first_run_s']:.1f} s); files alone "
           f"{result['ours_per_file_realtime']:.0f}x")
  return [
      measurement("detect_clips/realtime", "audio seconds per wall second, detect --nopng",
                  "x real time", result["ours_realtime"], 1.0, "real time",
                  DETECT_CLIPS_REALTIME_GOAL, where),
      measurement("detect_clips/vs_yamnet_tflite", "audio seconds per wall second, detect --nopng",
                  "x real time", result["ours_realtime"], result["peer_realtime"],
                  "YAMNet int8 TFLite on LiteRT, one thread, numpy front end", None, where),
  ]


def _listed(values) -> str:
  return ", ".join("-" if d is None else f"{d:.2f}" for d in values)


def run_listen(settings: dict, state: SharedState, log: Log) -> list[dict[str, Any]]:
  from benchmarks import listen_live
  # The default hop (a YAMNet model's is 0.48 s) and a slower one that costs less CPU.
  live = {"default": listen_live.measure_delay_and_cpu(settings["listen_cries"]),
          "1s": listen_live.measure_delay_and_cpu(settings["listen_cries"], 1.0)}
  memory = listen_live.measure_memory(settings["listen_hours"],
                                      sample_every_h=max(settings["listen_hours"] / 24, 0.05))
  state.details["listen"] = dict(live, memory=memory)
  rows = []
  for name, result in live.items():
    hop = f"hop {result['hop_s']:g} s{' (the default)' if name == 'default' else ''}"
    goal = 1.0 if name == "default" else None
    log(f"[listen] {hop}: {result['alerted']}/{result['cries']} cries alerted, median delay "
        f"{result['median_delay_s']:.2f} s, max {result['max_delay_s']:.2f} s, CPU "
        f"{100 * result['cpu_share']:.1f}% of a core")
    notes = (f"{result['alerted']} of {result['cries']} real cries alerted, "
             f"{result['false_alerts']} other alerts; delays {_listed(result['delays_s'])} s "
             f"(on the audio's clock {_listed(result['stream_delays_s'])} s)")
    rows.append(measurement(
        f"listen/delay_{name}_hop", f"median s from a cry's onset to its alert, {hop}",
        "s", result["median_delay_s"], LISTEN_DELAY_GOAL_S, "the goal", goal,
        notes + f"; the longest {result['max_delay_s']:.2f} s", at_most=True))
    rows.append(measurement(
        f"listen/cpu_{name}_hop", f"share of one core listening in real time, {hop}",
        "share", result["cpu_share"], LISTEN_CPU_SHARE_GOAL, "the goal", goal,
        f"{result['cpu_s']:.1f} CPU s over {result['wall_s']:.0f} s of listening", at_most=True))
  log(f"[listen] memory: {memory['rss_first_mib']:.0f} MiB after the first hour, "
      f"{memory['rss_last_mib']:.0f} MiB after {memory['hours']:g} h of audio "
      f"({memory['speed_x_real_time']:.0f}x real time)")
  rss = ", ".join(f"{sample['rss_mib']:.0f}" for sample in memory["samples"])
  hours = ", ".join(f"{sample['audio_h']:g}" for sample in memory["samples"])
  rows.append(measurement(
      "listen/memory", f"most resident MiB over {memory['hours']:g} h of audio / after the first hour",
      "MiB", memory["rss_max_mib"], memory["rss_first_mib"], "after the first hour",
      LISTEN_MEMORY_GROWTH,
      f"fed {memory['speed_x_real_time']:.0f}x faster than real time at hop {memory['hop_s']:g} s, "
      f"{memory['episodes']} cry episodes; RSS at {hours} h of audio: {rss}",
      at_most=True))
  return rows


# In running order: hw and input reuse the steps train timed.
SUITES = {
    # Steps are seconds long at the study's sizes on a small CPU: few, but repeated. Two
    # warm-up steps, because the pmapped step compiles twice: once for the host copy of the
    # state, again once the state is the step's own device output.
    "train": Suite(run_train, full={"train": Protocol(2, 3, 3)}, quick={"train": Protocol(2, 1, 1)},
                   explain=profile_notes.explain_steps, needs_tf_venv=True),
    "hw": Suite(run_hw, full={"matmul": Protocol(2, 5, 3)}, quick={"matmul": Protocol(1, 2, 1)},
                explain=profile_notes.explain_steps),
    "input": Suite(run_input, full={"input": Protocol(10, 60, 5)}, quick={"input": Protocol(1, 3, 1)},
                   explain=profile_notes.explain_input, needs_tf_venv=True),
    "preprocess": Suite(run_preprocess,
                        full={"preprocess_clips": 2400, "preprocess_memory_clips": (600, 2400)},
                        quick={"preprocess_clips": 8, "preprocess_memory_clips": (8, 16)},
                        explain=profile_notes.explain_preprocess),
    "detect": Suite(run_detect, full={"detect_duration_s": 60.0}, quick={"detect_duration_s": 8.0}),
    # Needs ../shared (real clips and YAMNet's TFLite file).
    "detect_clips": Suite(run_detect_clips,
                          full={"detect_clips_model": "yamnet_cry", "detect_clips_repeats": 3},
                          quick={"detect_clips_model": "yamnet_cry", "detect_clips_repeats": 1}),
    # The live monitor in real time: minutes of wall time however fast the machine.
    "listen": Suite(run_listen, full={"listen_cries": 12, "listen_hours": 24.0},
                    quick={"listen_cries": 2, "listen_hours": 0.2}),
}
NAMES = tuple(SUITES)


def settings(quick: bool) -> dict[str, Any]:
  """Every benchmark's settings in one dict: a runner may read another's (hw times train's steps)."""
  return {key: value for suite in SUITES.values()
          for key, value in (suite.quick if quick else suite.full).items()}
