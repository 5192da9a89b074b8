"""Detection on a hundred short real clips, end to end on one core, beside YAMNet as it comes.

The case of a user who points `detect` at a folder of short recordings: each
command is timed from its start to its exit (Python start-up, imports, loading
and compiling the model, then every file), pinned to one core. Ours is
`python -m babycry_jax.detect --nopng` with a shipped model; the peer is
benchmarks.yamnet_tflite_peer: Google's int8 YAMNet run by LiteRT on one thread
with a numpy front end, what a hobbyist would write around the free model. The
clips are the first 80 ESC-50 clips (every fourth, 5 s each) and 20 Donate-a-cry
cries (every twentieth, about 7 s) of ../shared/data.
"""
from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time
from typing import Any, Sequence

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"
TFLITE = SHARED / "models" / "yamnet" / "yamnet_spectra_in.tflite"


def clips(shared_data: pathlib.Path = SHARED / "data") -> list[str]:
  """The benchmark's 100 clips (80 environmental sounds, 20 cries), in a fixed order."""
  if not shared_data.is_dir() or not TFLITE.is_file():
    raise FileNotFoundError(f"{shared_data} or {TFLITE} is absent: this benchmark runs on the "
                            "real clips and the YAMNet file of ../shared")
  esc = sorted((shared_data / "real_world" / "esc50_other").glob("*/*.flac"))[::4][:80]
  cries = sorted((shared_data / "real_audio" / "donateacry_cry").glob("*/*.wav"))[::20][:20]
  return [str(p) for p in esc + cries]


def _one_core() -> None:
  os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def _timed(args: Sequence[str]) -> tuple[float, subprocess.CompletedProcess]:
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  env.pop("XLA_FLAGS", None)
  started = time.perf_counter()
  done = subprocess.run([sys.executable, *args], cwd=REPO_ROOT, env=env, capture_output=True,
                        text=True, preexec_fn=_one_core)
  return time.perf_counter() - started, done


def run(shipped_model: str, paths: Sequence[str] | None = None, repeats: int = 2) -> dict[str, Any]:
  """Times both commands `repeats` times each, alternating; the fastest of each is kept.

  Ours runs first once unmeasured, so that its compiled model is in the compilation cache
  as it is for a user's second run; that first run's time is kept as `ours_first_run_s`.
  """
  paths = list(paths or clips())
  from babycry_jax.data import media_probe
  audio_s = sum(media_probe.probe(p).duration_s for p in paths)
  with tempfile.TemporaryDirectory(prefix="detect_clips_") as out:
    ours_args = ["-m", "babycry_jax.detect", f"--shipped_model={shipped_model}", "--nopng",
                 f"--output_dir={out}", *paths]
    peer_args = ["-m", "benchmarks.yamnet_tflite_peer", f"--tflite={TFLITE}", *paths]
    first_s, done = _timed(ours_args)
    if done.returncode != 0:
      raise RuntimeError(f"detect failed: {done.stderr[-2000:]}")
    ours, peer = [], []
    for _ in range(repeats):
      ours.append(_timed(ours_args)[0])
      seconds, done = _timed(peer_args)
      if done.returncode != 0:
        raise RuntimeError(f"the TFLite peer failed: {done.stderr[-2000:]}")
      peer.append(seconds)
    per_file_s = sum(json.loads(p.read_text())["timings_s"]["total"]
                     for p in pathlib.Path(out).glob("*.json"))
  return {"files": len(paths), "audio_s": audio_s, "shipped_model": shipped_model,
          "ours_s": min(ours), "peer_s": min(peer), "ours_first_run_s": first_s,
          "ours_realtime": audio_s / min(ours), "peer_realtime": audio_s / min(peer),
          "ours_per_file_realtime": audio_s / per_file_s, "runs_s": {"ours": ours, "peer": peer}}

