"""One row of a benchmark's results, and the machine it was measured on."""
from __future__ import annotations

import datetime
import os
import platform
from typing import Any, Optional


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
