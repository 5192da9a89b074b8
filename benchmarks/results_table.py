"""The markdown table of benchmark results docs/benchmarks.md carries: one row per measurement."""
from __future__ import annotations

from typing import Any


def markdown_table(results: list[dict[str, Any]]) -> str:
  """A line per run that measured the given results files (machine, date, command), then the rows."""
  runs: dict[tuple[str, str], list[dict[str, Any]]] = {}
  for result in results:
    runs.setdefault((result["machine"]["date"], result["command"]), []).append(result)
  lines = []
  for same_run in runs.values():
    lines += [_run_line(same_run), ""]
  lines += ["| benchmark | ours | baseline | ratio | goal | met |",
            "| --- | --- | --- | --- | --- | --- |"]
  for result in results:
    for r in result["measurements"]:
      met = {True: "yes", False: "**no**", None: "-"}[r["met"]]
      lines.append(f"| {r['name']} ({r['unit']}) | {_fmt(r['value'])} | {_fmt(r['baseline'])} "
                   f"{r['baseline_name']} | {r['ratio']:.2f}x | {r['goal'] or '-'} | {met} |")
  return "\n".join(lines)


def _run_line(same_run: list[dict[str, Any]]) -> str:
  first = same_run[0]
  m = first["machine"]
  return (f"{', '.join(r['suite'] for r in same_run)}: measured {m['date'][:10]} on {m['cpu_model']}, "
          f"{m['cpu_count']} cores (load average {m['load_average_1min']:.1f} at the start; the "
          f"machine is shared), JAX {m['jax']} on {m['jax_devices']}; `{first['command']}` in "
          f"{first['elapsed_s'] / 60:.1f} min{' (--quick)' if first['quick'] else ''}.")


def _fmt(value: float) -> str:
  if value != value:  # NaN
    return "n/a"
  return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
