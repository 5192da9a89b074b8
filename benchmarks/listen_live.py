"""The live monitor as it runs: alert delay, CPU share, memory over a day of audio.

    python -m benchmarks --only listen [--quick]

Each measurement runs the real command, `python -m babycry_jax.listen -`, with the
shipped default model, on raw 8 kHz PCM piped to its stdin:
  delay and CPU   real recordings fed at real time: a running tap (Speech Commands
                  background noise), then a real cry from donateacry, again and again.
                  The delay of one cry is the "time" of its "crying started" alert
                  minus the wall time its first sample went into the pipe (same clock,
                  same machine). CPU share: the process's user+system CPU time over
                  the wall time it listened (all threads, decoding to alerts), the
                  start-up left out. The stream delay is the same on the audio's clock
                  (audio heard at the alert, past the onset): what the windows, the
                  smoothing and min_cry_s cost, apart from the machine's load.
  memory          a day of that audio (looped) fed as fast as the monitor takes it,
                  its resident memory sampled every hour of audio; with the web
                  page's history on, so its bounded buffers are exercised too.
Needs ../shared/data (the recordings).
"""
from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time
from typing import Any, Optional

import numpy as np

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
RATE = 8000
CHUNK_S = 0.05        # the feeder's writes, like a sound card's blocks
QUIET_S = 12.0        # background before each cry; --cooldown_s below ends each episode in it
COOLDOWN_S = 5.0


def _recordings(count: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
  """(count real cries, the two backgrounds) as 8 kHz float32."""
  from babycry_jax.data import media_audio
  if not SHARED_DATA.is_dir():
    raise FileNotFoundError(f"{SHARED_DATA} is absent: the listen benchmark needs its recordings")
  cries = sorted((SHARED_DATA / "real_audio/donateacry_cry").glob("*/*.wav"))
  picked = [cries[int(i)] for i in np.linspace(0, len(cries) - 1, count)]
  # The running tap only: the other background, a miaowing cat, is a confuser of its own.
  backgrounds = [SHARED_DATA / "real_world/noise_backgrounds/running_tap.flac"]
  return ([media_audio.read_audio(str(p), RATE) for p in picked],
          [media_audio.read_audio(str(p), RATE) for p in backgrounds])


def _program(cries, backgrounds) -> tuple[np.ndarray, list[float]]:
  """The stream: QUIET_S of a background before each cry, and after the last; the onsets (s)."""
  parts, onsets, at = [], [], 0.0
  for k, cry in enumerate(cries):
    quiet = backgrounds[k % len(backgrounds)]
    start = int(k * 7 * RATE) % max(1, len(quiet) - int(QUIET_S * RATE))
    parts.append(quiet[start:start + int(QUIET_S * RATE)])
    onsets.append(at + QUIET_S)
    parts.append(cry)
    at += QUIET_S + len(cry) / RATE
  parts.append(backgrounds[0][:int(QUIET_S * RATE)])
  return np.concatenate(parts), onsets


def _pcm(audio: np.ndarray) -> bytes:
  return (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()


def _start(log_path: str, *args: str) -> subprocess.Popen:
  # Its log lines go to a file: a pipe nobody reads would fill up and stop the monitor.
  errors = open(log_path + ".stderr", "wb")
  return subprocess.Popen(
      [sys.executable, "-m", "babycry_jax.listen", "-", "--pcm_rate", str(RATE), "--nostatus",
       "--cooldown_s", str(COOLDOWN_S), "--log_jsonl", log_path, *args],
      cwd=REPO_ROOT, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=errors)


def _alerts(log_path: str) -> list[dict[str, Any]]:
  if not os.path.exists(log_path):
    return []
  with open(log_path) as f:
    return [json.loads(line) for line in f if line.strip()]


def _wait_started(proc: subprocess.Popen, log_path: str, timeout_s: float = 300.0) -> None:
  deadline = time.monotonic() + timeout_s
  while not any(a["event"] == "listening_started" for a in _alerts(log_path)):
    if proc.poll() is not None or time.monotonic() > deadline:
      with open(log_path + ".stderr") as f:
        raise RuntimeError(f"listen did not start: {f.read()[-2000:]}")
    time.sleep(0.05)


def _cpu_s(pid: int) -> float:
  """User + system CPU seconds of a process, all its threads."""
  with open(f"/proc/{pid}/stat") as f:
    fields = f.read().rsplit(")", 1)[1].split()
  return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mib(pid: int) -> float:
  with open(f"/proc/{pid}/status") as f:
    kib = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
  return kib / 1024.0


def _iso_to_epoch(text: str) -> float:
  import datetime
  return datetime.datetime.fromisoformat(text).timestamp()


def measure_delay_and_cpu(num_cries: int, hop_s: Optional[float] = None) -> dict[str, Any]:
  """Real-time feeding of num_cries cries; see the module docstring."""
  cries, backgrounds = _recordings(num_cries)
  audio, onsets = _program(cries, backgrounds)
  pcm, chunk = _pcm(audio), int(CHUNK_S * RATE) * 2
  with tempfile.TemporaryDirectory() as tmp:
    log_path = os.path.join(tmp, "alerts.jsonl")
    proc = _start(log_path, *([] if hop_s is None else ["--hop_s", str(hop_s)]))
    try:
      _wait_started(proc, log_path)
      onset_walls, next_onset = [], 0
      started_wall, started_cpu, t0 = time.time(), _cpu_s(proc.pid), time.monotonic()
      for k, first in enumerate(range(0, len(pcm), chunk)):
        proc.stdin.write(pcm[first:first + chunk])
        proc.stdin.flush()
        heard_s = (first + chunk) / 2 / RATE
        if next_onset < len(onsets) and heard_s > onsets[next_onset]:
          onset_walls.append(time.time() - (heard_s - onsets[next_onset]))
          next_onset += 1
        time.sleep(max(0.0, t0 + (k + 1) * CHUNK_S - time.monotonic()))
      time.sleep(1.0)   # the last windows
      cpu_s, wall_s = _cpu_s(proc.pid) - started_cpu, time.time() - started_wall
      proc.stdin.close()
      proc.wait(timeout=60)
    finally:
      if proc.poll() is None:
        proc.kill()
    alerts = _alerts(log_path)
  started = [_iso_to_epoch(a["time"]) for a in alerts if a["event"] == "crying_started"]
  delays = []
  for onset in onset_walls:   # each cry's first alert after its onset, before the next onset
    after = [t - onset for t in started if onset <= t < onset + QUIET_S]
    delays.append(min(after) if after else None)
  heard = [d for d in delays if d is not None]
  # The same on the stream's clock: audio heard when the alert went out, past the onset. What
  # the windows, the smoothing and min_cry_s cost, whatever the machine's load.
  heard_at = [a["heard_s"] for a in alerts if a["event"] == "crying_started"]
  stream_delays = [min([h - onset for h in heard_at if onset <= h < onset + QUIET_S], default=None)
                   for onset in onsets]
  return {"cries": len(onsets), "alerted": len(heard), "delays_s": delays,
          "stream_delays_s": stream_delays,
          "median_delay_s": float(np.median(heard)) if heard else float("nan"),
          "max_delay_s": float(max(heard)) if heard else float("nan"),
          "false_alerts": len(started) - len(heard),
          "hop_s": next(a["hop_s"] for a in alerts if a["event"] == "listening_started"),
          "cpu_s": cpu_s, "wall_s": wall_s, "cpu_share": cpu_s / wall_s,
          "audio_s": len(audio) / RATE}


def measure_memory(hours: float, sample_every_h: float = 1.0, hop_s: float = 4.0) -> dict[str, Any]:
  """A day (or `hours`) of audio fed as fast as taken; RSS every sample_every_h of audio.

  At a 4 s hop by default, so that a day of audio takes minutes, not hours, on a small CPU:
  every hop runs the same code on the same bounded buffers, only fewer times.
  """
  cries, backgrounds = _recordings(8)
  loop, _ = _program(cries, backgrounds)
  pcm, chunk = _pcm(loop), int(CHUNK_S * RATE) * 2 * 20
  total_bytes = int(hours * 3600 * RATE) * 2
  with tempfile.TemporaryDirectory() as tmp:
    log_path = os.path.join(tmp, "alerts.jsonl")
    proc = _start(log_path, "--web_port", "0", "--hop_s", str(hop_s))
    samples, sent, next_sample = [], 0, 0.0
    try:
      _wait_started(proc, log_path)
      started = time.monotonic()
      while sent < total_bytes:
        if sent / 2 / RATE / 3600 >= next_sample:
          samples.append({"audio_h": round(sent / 2 / RATE / 3600, 3),
                          "wall_s": round(time.monotonic() - started, 1),
                          "rss_mib": round(_rss_mib(proc.pid), 1)})
          next_sample += sample_every_h
        first = sent % len(pcm)
        piece = pcm[first:first + min(chunk, total_bytes - sent)]
        proc.stdin.write(piece)
        sent += len(piece)
      proc.stdin.close()
      proc.wait(timeout=600)
      elapsed = time.monotonic() - started
    finally:
      if proc.poll() is None:
        proc.kill()
    alerts = _alerts(log_path)
  after_first = [s["rss_mib"] for s in samples if s["audio_h"] >= min(1.0, hours / 2)]
  return {"hours": hours, "hop_s": hop_s, "samples": samples, "wall_s": elapsed,
          "speed_x_real_time": hours * 3600 / elapsed,
          "rss_first_mib": after_first[0], "rss_last_mib": samples[-1]["rss_mib"],
          "rss_max_mib": max(after_first), "exit_status": proc.returncode,
          "episodes": sum(a["event"] == "crying_started" for a in alerts)}
