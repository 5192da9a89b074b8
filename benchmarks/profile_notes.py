"""Profile notes: where a benchmark missed a goal, what dominates, measured in the same run.

Each benchmark may name an explainer in its registry entry (benchmarks/suites.py):
(missed row names, state, log) -> (sentences, the raw figures behind them), where
state is the run's suites.SharedState. The explainers run after every benchmark
of the run, so profiling never slows a timed run.
"""
from __future__ import annotations

from typing import Any, Callable, Optional

ALL_MET = "Every goal with a target was met in this run."


def notes(rows: list[dict[str, Any]], explain: Optional[Callable], state: Any,
          log: Callable[[str], None]) -> tuple[str, dict[str, Any]]:
  """One benchmark's profile notes and the figures they rest on ({} where none)."""
  missed = [r["name"] for r in rows if r["met"] is False]
  if not missed:
    return ALL_MET, {}
  sentences, evidence = explain(missed, state, log) if explain else ([], {})
  text = "Goals missed: " + ", ".join(missed)
  if sentences:
    text += ". What dominates, measured in this run: " + ". ".join(sentences)
  return text + ".", evidence


def explain_steps(missed: list[str], state: Any, log: Callable[[str], None]):
  """The ops that dominate each missed family's train step (jax.profiler), profiled once a run."""
  from benchmarks import hardware_efficiency as he
  families = []
  for name in missed:
    family = name.split("/", 1)[1]
    if family in state.steps and family not in families:
      families.append(family)
  for family in families:
    if family not in state.profiles:
      log(f"[profile] {family}")
      state.profiles[family] = he.profile_step(state.steps[family])
  return ([he.describe_profile(family, state.profiles[family]) for family in families],
          {family: state.profiles[family] for family in families})


def explain_input(missed: list[str], state: Any, log: Callable[[str], None]):
  """Where our loader's CPU time per record goes, stage by stage."""
  stages = state.details.get("input", {}).get("stages_ms_per_record")
  if not stages:
    return [], {}
  total = sum(stages.values())
  biggest = max(stages, key=stages.get)
  return [f"input: {total:.2f} ms of CPU per record in our loader, one thread, "
          f"{100 * stages[biggest] / total:.0f}% in {biggest} "
          f"({', '.join(f'{k} {v:.2f} ms' for k, v in stages.items())})"], {}


def explain_preprocess(missed: list[str], state: Any, log: Callable[[str], None]):
  """Each mode's clips/s against the loop, and the launcher's peak memory at each size."""
  preprocess = state.details.get("preprocess")
  if not preprocess:
    return [], {}
  memory = {mode: ", ".join(f"{mib:.0f} at {clips}" for clips, mib in by_clips.items())
            for mode, by_clips in preprocess["memory"].items()}
  return [f"preprocess: loop {preprocess['sequential']['clips_per_s']:.1f} clips/s, DirectRunner "
          f"{preprocess['direct']['clips_per_s']:.1f}, portable {preprocess['portable']['clips_per_s']:.1f} "
          "(Beam's local job service runs one SDK worker); launcher peak MiB at N clips: direct "
          f"{memory['direct']}; portable {memory['portable']}"], {}
