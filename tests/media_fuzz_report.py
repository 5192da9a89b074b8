"""Broken media through detection and preprocessing, one outcome per file, counted.

  python -m tests.media_fuzz_report --count 1000 [--seed 0] [--folder DIR]

makes the good clips and `count` broken ones (tests/media_fuzzer.py), puts the
good clips among the broken ones, and gives every file to a worker process that
runs the shipped detector (babycry_jax.detection_files.detect_files) and the
preprocessing worker step (preprocess.decode_source.ProcessSource) on it. The
worker runs each file with its stderr captured; this process watches it: a file
that takes longer than its bound is a hang, a worker that dies is a crash, one
whose memory passes --max_rss_mb is out of memory. Each of those kills the
worker and a new one goes on with the next file. A file's bound is
--file_timeout_s plus SECONDS_PER_MEDIA_S for every second of media its probe
reports (a header may truthfully claim 25 minutes; the probe refuses a timeline
longer than the file's bytes could hold).

Outcomes of one file, for each of the two paths:
  result       detection: a Detection and its outputs; preprocessing: records
  error        one line naming the file and a known reason (MediaError, DetectError)
  unexpected   one line, but from an exception nobody expected (a bug)
  traceback    "Traceback" in a message or on stderr, or a message that is not one line
  hang, crash, memory   as above (the file is charged to both paths)
Prints the counts of mutation x outcome; tests/test_faults_media.py asserts on them.
"""
from __future__ import annotations

import argparse
import collections
import contextlib
import dataclasses
import hashlib
import json
import os
import pathlib
import resource
import select
import subprocess
import sys
import tempfile
import time
from typing import Any, Iterator, Sequence

TESTS = pathlib.Path(__file__).resolve().parent
REPO_ROOT = TESTS.parent
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
sys.path[:0] = [str(TESTS)] + ([str(REPO_ROOT)] if str(REPO_ROOT) not in sys.path else [])

import media_fuzzer  # noqa: E402

GOOD = "good"                        # the mutation column of the good clips
FILE_TIMEOUT_S = 60.0                # a loaded 2-core machine decodes a 1.5 s clip in < 5 s
SECONDS_PER_MEDIA_S = 0.25           # both paths run at > 15x real time there, even loaded
START_TIMEOUT_S = 600.0              # a worker's imports and the detector's compilation
MAX_RSS_MB = 6000
OUTCOMES = ("result", "error", "unexpected", "traceback", "hang", "crash", "memory")


@dataclasses.dataclass
class FileOutcome:
  path: str
  mutation: str
  detect: str                        # one of OUTCOMES
  preprocess: str
  detect_line: str = ""              # the error line, or the reason of a hang/crash/memory
  preprocess_line: str = ""
  detect_value: Any = None           # probabilities of a result
  preprocess_value: Any = None       # (records, sha256 of their bytes) of a result
  seconds: float = 0.0
  media_s: float = 0.0               # the probe's duration, 0 where it refuses the file
  maxrss_mb: float = 0.0             # the worker's peak so far, after this file


# ---------------------------------------------------------------- the worker process

def _one_line_error(path: str, line: str, unexpected: bool) -> str:
  if "Traceback" in line or "\n" in line.strip() or path not in line:
    return "traceback"
  return "unexpected" if unexpected else "error"


@contextlib.contextmanager
def _captured_stderr() -> Iterator[list[str]]:
  """What this process (Python, FFmpeg, XLA) writes to fd 2 meanwhile, in the list yielded."""
  captured: list[str] = []
  sys.stderr.flush()
  saved = os.dup(2)
  with tempfile.TemporaryFile() as f:
    os.dup2(f.fileno(), 2)
    try:
      yield captured
    finally:
      sys.stderr.flush()
      os.dup2(saved, 2)
      os.close(saved)
      f.seek(0)
      captured.append(f.read().decode("utf-8", "replace"))


class _Worker:
  def __init__(self, out_dir: str):
    from babycry_jax import detection, shipped_model
    from babycry_jax.data import schema
    from preprocess import decode_source
    self.detector = detection.shipped_detector(shipped_model.DEFAULT_NAME)
    self.out_dir = out_dir
    self.decode_source = decode_source
    self.process_source = decode_source.ProcessSource(schema.FeatureSpec(), {"g": "train"},
                                                      {"train": 1}, num_items=1)
    self.process_source.setup()

  def detect(self, path: str) -> tuple[str, str, Any]:
    from babycry_jax import detection_files
    done, failed = detection_files.detect_files(self.detector, [path], self.out_dir, plot=False,
                                                threshold=self.detector.default_threshold)
    if path in done:
      return "result", "", [float(p) for p in done[path].probabilities]
    line = failed[path]
    return _one_line_error(path, line, ": error: unexpected " in line), line, None

  def preprocess(self, path: str) -> tuple[str, str, Any]:
    from apache_beam import pvalue
    from preprocess import sources
    item = sources.SourceItem(path=path, source_id=os.path.basename(path), label="crying", group="g")
    records, errors = [], []
    for output in self.process_source.process((0, item)):
      if isinstance(output, pvalue.TaggedOutput):
        if output.tag == self.decode_source.ERRORS:
          errors.append(output.value)
      else:
        records.append(output[1][2])
    if not errors:
      return "result", "", (len(records), hashlib.sha256(b"".join(records)).hexdigest())
    line = f"{errors[0]['path']}: {errors[0]['reason']}: {errors[0]['detail']}"
    return (_one_line_error(path, line, errors[0]["reason"] == self.decode_source.UNEXPECTED_ERROR),
            line, None)

  @staticmethod
  def _watched(step, path: str) -> tuple[str, str, Any]:
    """step(path), a traceback on stderr meanwhile making its outcome "traceback"."""
    with _captured_stderr() as stderr:
      outcome, line, value = step(path)
    if "Traceback" in stderr[0]:
      return "traceback", line or stderr[0].strip().splitlines()[-1], value
    return outcome, line, value

  def run(self, path: str) -> dict[str, Any]:
    started = time.perf_counter()
    detect, preprocess = self._watched(self.detect, path), self._watched(self.preprocess, path)
    return {"path": path, "detect": detect, "preprocess": preprocess,
            "seconds": time.perf_counter() - started,
            "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def worker_main(out_dir: str) -> None:
  """Reads paths from stdin, one a line; writes "ready", then two JSON lines per file: the
  probe's duration (0 when it refuses the file), then the outcomes."""
  from babycry_jax.data import media_probe
  worker = _Worker(out_dir)
  print(json.dumps("ready"), flush=True)
  for line in sys.stdin:
    path = line.rstrip("\n")
    try:
      with _captured_stderr():
        media_s = media_probe.probe(path).duration_s
    except Exception:   # the runs below report it
      media_s = 0.0
    print(json.dumps(media_s), flush=True)
    print(json.dumps(worker.run(path)), flush=True)


# ---------------------------------------------------------------- the watching process

def _rss_mb(pid: int) -> float:
  try:
    with open(f"/proc/{pid}/status") as f:
      for line in f:
        if line.startswith("VmRSS:"):
          return int(line.split()[1]) / 1024
  except OSError:
    pass
  return 0.0


class _WorkerProcess:
  """A worker and the reading of its lines, each within a time and memory bound."""

  def __init__(self, out_dir: str, max_rss_mb: float):
    env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=str(REPO_ROOT))
    env.pop("XLA_FLAGS", None)
    self.max_rss_mb = max_rss_mb
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "worker_stderr.txt"), "a") as log:   # what a file does not own
      self.proc = subprocess.Popen([sys.executable, "-m", "tests.media_fuzz_report", "--worker",
                                    "--folder", out_dir], cwd=REPO_ROOT, env=env, text=True,
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log)
    self._buffer = ""
    status, value = self.read(START_TIMEOUT_S)
    if status != "ok" or value != "ready":
      self.stop()
      raise RuntimeError(f"the fuzzing worker did not start: {status} {value}")

  def read(self, timeout_s: float) -> tuple[str, Any]:
    """("ok", the next JSON line's value), or ("hang" | "crash" | "memory", why)."""
    deadline = time.monotonic() + timeout_s
    fd = self.proc.stdout.fileno()
    while "\n" not in self._buffer:
      left = deadline - time.monotonic()
      if left <= 0:
        return "hang", f"no result within {timeout_s:.0f} s"
      rss = _rss_mb(self.proc.pid)
      if rss > self.max_rss_mb:
        return "memory", f"worker used {rss:.0f} MB (> {self.max_rss_mb:g})"
      ready, _, _ = select.select([fd], [], [], min(left, 0.2))
      if ready:
        chunk = os.read(fd, 1 << 16).decode()
        if not chunk:
          code = self.proc.wait()
          return "crash", f"worker died ({f'signal {-code}' if code < 0 else f'exit {code}'})"
        self._buffer += chunk
    line, self._buffer = self._buffer.split("\n", 1)
    return "ok", json.loads(line)

  def send(self, path: str) -> None:
    self.proc.stdin.write(path + "\n")
    self.proc.stdin.flush()

  def stop(self) -> None:
    if self.proc.poll() is None:
      self.proc.kill()
    self.proc.wait()


def time_bound_s(media_s: float, file_timeout_s: float = FILE_TIMEOUT_S) -> float:
  """The most a file of media_s seconds (by its probe) may take, both paths together."""
  return file_timeout_s + SECONDS_PER_MEDIA_S * media_s


def run_files(files: Sequence[tuple[str, str]], out_dir: str, file_timeout_s: float = FILE_TIMEOUT_S,
              max_rss_mb: float = MAX_RSS_MB, progress=None) -> list[FileOutcome]:
  """Every (path, mutation) through one worker in order, a new worker after a hang, crash or
  out of memory; returns one FileOutcome per file."""
  outcomes: list[FileOutcome] = []
  worker = None
  try:
    for path, mutation in files:
      if worker is None:
        worker = _WorkerProcess(out_dir, max_rss_mb)
      worker.send(path)
      started = time.monotonic()
      status, media_s = worker.read(file_timeout_s)
      bound_s = time_bound_s(media_s if status == "ok" else 0.0, file_timeout_s)
      if status == "ok":
        status, value = worker.read(bound_s - (time.monotonic() - started))
      else:
        value = media_s
      if status == "ok":
        (d, dl, dv), (p, pl, pv) = value["detect"], value["preprocess"]
        outcome = FileOutcome(path, mutation, d, p, dl, pl, dv, pv and tuple(pv),
                              value["seconds"], media_s, value["maxrss_mb"])
      else:
        worker.stop()
        worker = None
        outcome = FileOutcome(path, mutation, status, status, f"{path}: {value}",
                              f"{path}: {value}", seconds=time.monotonic() - started)
      outcomes.append(outcome)
      if progress:
        progress(len(outcomes), outcome)
  finally:
    if worker is not None:
      worker.stop()
  return outcomes


def corpus(folder: pathlib.Path, count: int, seed: int,
           shared_data: pathlib.Path | None) -> tuple[list[str], list[tuple[str, str]]]:
  """(the good clips, every file to run as (path, mutation)): the good clips spread among the
  broken ones, each once."""
  good = media_fuzzer.make_good(folder / "good", shared_data)
  broken = media_fuzzer.make_broken(folder / "broken", good, count, seed)
  files = [(str(path), mutation) for path, mutation, _ in broken]
  step = max(1, len(files) // len(good))
  for n, path in reversed(list(enumerate(good))):
    files.insert(min(n * step + step // 2, len(files)), (str(path), GOOD))
  return [str(p) for p in good], files


def counts(outcomes: Sequence[FileOutcome], which: str) -> dict[str, collections.Counter]:
  """{mutation: Counter(outcome)} of the "detect" or "preprocess" outcomes."""
  table: dict[str, collections.Counter] = {}
  for o in outcomes:
    table.setdefault(o.mutation, collections.Counter())[getattr(o, which)] += 1
  return table


def table_text(outcomes: Sequence[FileOutcome]) -> str:
  """A markdown table: per mutation, files, then detection and preprocessing outcome counts."""
  mutations = [m for m in (*media_fuzzer.MUTATIONS, GOOD) if any(o.mutation == m for o in outcomes)]
  detect, preprocess = counts(outcomes, "detect"), counts(outcomes, "preprocess")
  rows = ["| mutation | files | " + " | ".join(f"detect: {o}" for o in OUTCOMES[:3]) + " | "
          + " | ".join(f"preprocess: {o}" for o in OUTCOMES[:3]) + " | traceback, hang, crash, memory |",
          "|" + "---|" * 9]
  for m in [*mutations, "total"]:
    d = sum(detect.values(), collections.Counter()) if m == "total" else detect[m]
    p = sum(preprocess.values(), collections.Counter()) if m == "total" else preprocess[m]
    files = sum(d.values())
    bad = sum(d[o] + p[o] for o in OUTCOMES[3:])
    rows.append(f"| {m} | {files} | " + " | ".join(str(d[o]) for o in OUTCOMES[:3]) + " | "
                + " | ".join(str(p[o]) for o in OUTCOMES[:3]) + f" | {bad} |")
  return "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--count", type=int, default=1000, help="broken files to make")
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--folder", help="where the files go (default: a temporary folder)")
  parser.add_argument("--file_timeout_s", type=float, default=FILE_TIMEOUT_S)
  parser.add_argument("--max_rss_mb", type=float, default=MAX_RSS_MB)
  parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
  args = parser.parse_args(argv)
  if args.worker:
    worker_main(args.folder)
    return 0
  with contextlib.ExitStack() as stack:
    folder = pathlib.Path(args.folder or stack.enter_context(tempfile.TemporaryDirectory()))
    started = time.perf_counter()
    _, files = corpus(folder, args.count, args.seed, SHARED_DATA if SHARED_DATA.is_dir() else None)
    print(f"{len(files)} files made in {time.perf_counter() - started:.0f} s", flush=True)

    def progress(n, o):
      if n % 50 == 0 or n == len(files) or {o.detect, o.preprocess} - {"result", "error"}:
        print(f"{n}/{len(files)} {os.path.basename(o.path)}: detect {o.detect}, preprocess "
              f"{o.preprocess} {o.detect_line if o.detect not in ('result', 'error') else ''}"
              f"{o.preprocess_line if o.preprocess not in ('result', 'error') else ''}", flush=True)

    outcomes = run_files(files, str(folder / "out"), args.file_timeout_s, args.max_rss_mb, progress)
    print(table_text(outcomes))
    slowest = max(outcomes, key=lambda o: o.seconds)
    print(f"slowest file {slowest.seconds:.1f} s for {slowest.media_s:.1f} s of media "
          f"({os.path.basename(slowest.path)}); longest media {max(o.media_s for o in outcomes):.1f} s; "
          f"worker peak memory {max(o.maxrss_mb for o in outcomes):.0f} MB; "
          f"{time.perf_counter() - started:.0f} s in all")
  return 0


if __name__ == "__main__":
  sys.exit(main())
