"""Preprocessing speed and the launcher's memory: the Beam job against a plain loop.

    python -m benchmarks --only preprocess [--quick]

All modes run the same feature code (decode_source.RecordEncoder: decode,
cut windows, features, encode, serialize) over the same embedded-default
clips, cached under ~/.cache/babycry_jax (smaller sets link to the first
clips of the largest). The loop runs in this process and writes nothing; the
Beam times are end to end (pipeline and worker start-up, shuffle, writing the
dataset). Each Beam job is launched from a fresh process, and its peak
resident memory is the launcher's: VmHWM of its own address space (neither
its workers' nor, as getrusage would report after exec, its parent's). It
must not grow with the number of clips, since no record passes through it.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any, Optional, Sequence

from babycry_jax.data import schema

CACHE_DIR = os.path.join(os.path.expanduser("~"), ".cache", "babycry_jax", "preprocess_benchmark")
MODES = ("direct", "portable")


def clips(num_clips: int, generated: int, cache_dir: str = CACHE_DIR) -> str:
  """A label-folder root of the first `num_clips` of `generated` embedded-default clips.

  The clips are generated once (minutes for thousands) and kept; a smaller
  set is a folder of links to the first ones, so every size shares the files.
  """
  from preprocess import embedded_media
  full = os.path.join(cache_dir, f"clips_{generated}")
  rows = embedded_media.generate(full, num_clips=generated, seed=0, progress=False)  # reuses a finished one
  if num_clips >= generated:
    return full
  subset = os.path.join(cache_dir, f"first_{num_clips}_of_{generated}")
  if not os.path.exists(subset):
    partial = tempfile.mkdtemp(prefix=os.path.basename(subset) + ".partial-", dir=cache_dir)
    for row in rows[:num_clips]:
      os.makedirs(os.path.dirname(os.path.join(partial, row["path"])), exist_ok=True)
      os.symlink(os.path.join(full, row["path"]), os.path.join(partial, row["path"]))
    os.rename(partial, subset)
  return subset


def sequential_loop(input_path: str, spec: schema.FeatureSpec) -> dict[str, float]:
  """Decodes, computes and serializes every window of every input in one Python loop."""
  from preprocess import decode_source, sources

  encoder = decode_source.RecordEncoder(spec)
  items = sources.discover(input_path).items
  encoder.encode(items[0], encoder.windows(items[0])[0][0], items[0].label)  # librosa's one-off start-up
  started = time.perf_counter()
  num_records = 0
  for item in items:
    try:
      for window, label in encoder.windows(item):
        encoder.encode(item, window, label)
        num_records += 1
    except encoder.media_probe.MediaError:
      continue
  elapsed_s = time.perf_counter() - started
  return {"records": num_records, "seconds": elapsed_s, "clips_per_s": num_records / elapsed_s}


def _launch(input_path: str, output_dir: str, workers: int, mode: str) -> dict[str, Any]:
  """Runs one job from a new launcher process; returns its summary and peak memory."""
  code = (
      "import json, sys\n"
      "from preprocess import local_cluster, pipeline\n"
      "input_path, output_dir, workers, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]\n"
      "def run(args):\n"
      "  s = pipeline.build_dataset(input_path, output_dir, direct_num_workers=workers, overwrite=True,\n"
      "                             pipeline_args=args, log=lambda line: None)\n"
      "  return {'records': s['num_records'], 'seconds': s['elapsed_s'], 'clips_per_s': s['clips_per_s']}\n"
      "if mode == 'portable':\n"
      "  with local_cluster.LocalCluster() as cluster:\n"
      "    result = run(cluster.pipeline_args())\n"
      "else:\n"
      "  result = run([])\n"
      "peak_kb = [l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM:')][0]\n"
      "result['launcher_peak_rss_mb'] = int(peak_kb) / 1024\n"
      "print('RESULT ' + json.dumps(result))\n")
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  proc = subprocess.run([sys.executable, "-c", code, input_path, output_dir, str(workers), mode],
                        cwd=root, capture_output=True, text=True)
  lines = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
  if proc.returncode or not lines:
    raise RuntimeError(f"the {mode} job failed:\n{proc.stderr[-3000:]}")
  return json.loads(lines[-1][len("RESULT "):])


def run(num_clips: int = 2400, memory_clips: Sequence[int] = (600, 2400), workers: int = 2,
        modes: Sequence[str] = MODES, preset: str = "paper", input_path: Optional[str] = None,
        verbose: bool = True) -> dict[str, Any]:
  """Measures clips/s of the loop and of the Beam job, and the launcher's peak memory.

  Args:
    num_clips: embedded-default clips for the speed comparison.
    memory_clips: clip counts whose launcher peak memory is compared (direct and portable).
    workers: DirectRunner worker processes.
    modes: "direct" (DirectRunner) and/or "portable" (local job service + worker pool).
    preset: feature preset.
    input_path: measure these inputs instead of generated clips (no memory rows).
    verbose: print the table.

  Returns:
    {"input", "cpu_count", "preset", "sequential": {...}, "<mode>": {...},
     "memory": {"<mode>": {clips: peak MiB}}}.
  """
  spec = schema.preset(preset)
  generated = max([num_clips, *memory_clips])
  speed_input = input_path or clips(num_clips, generated)
  results: dict[str, Any] = {"input": speed_input, "cpu_count": os.cpu_count(), "preset": preset,
                             "workers": workers}
  work_dir = tempfile.mkdtemp(prefix="preprocess_speed_")
  try:
    results["sequential"] = sequential_loop(speed_input, spec)
    for mode in modes:
      results[mode] = _launch(speed_input, os.path.join(work_dir, mode), workers, mode)
    if input_path is None:
      results["memory"] = {mode: {} for mode in modes}
      for count in memory_clips:
        folder = speed_input if count == num_clips else clips(count, generated)
        for mode in modes:
          measured = results[mode] if count == num_clips else _launch(
              folder, os.path.join(work_dir, f"{mode}_{count}"), workers, mode)
          results["memory"][mode][str(count)] = measured["launcher_peak_rss_mb"]
          shutil.rmtree(os.path.join(work_dir, f"{mode}_{count}"), ignore_errors=True)
  finally:
    shutil.rmtree(work_dir, ignore_errors=True)
  if verbose:
    print(format_table(results))
  return results


def format_table(results: dict[str, Any]) -> str:
  lines = [f"input: {results['input']}  ({results['cpu_count']} CPUs, preset {results['preset']}, "
           f"{results['workers']} workers)",
           f"{'mode':<12} {'records':>8} {'seconds':>9} {'clips/s':>9} {'launcher MiB':>13}"]
  for mode in ("sequential",) + MODES:
    if mode in results:
      r = results[mode]
      memory = f"{r['launcher_peak_rss_mb']:>13.0f}" if "launcher_peak_rss_mb" in r else f"{'-':>13}"
      lines.append(f"{mode:<12} {r['records']:>8} {r['seconds']:>9.2f} {r['clips_per_s']:>9.2f} {memory}")
  for mode, by_count in results.get("memory", {}).items():
    lines.append(f"launcher peak memory, {mode}: " + ", ".join(f"{c} clips {m:.0f} MiB" for c, m in by_count.items()))
  return "\n".join(lines)
