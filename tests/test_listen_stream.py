"""A real network stream: an HTTP server on 127.0.0.1 streams a real recording with a cry in it,
in real time; PyAV reads it. Its scores equal detect's on the file; cut and resumed, the
monitor says offline, reconnects, says online and still hears the cry."""
import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

import live_parts
from babycry_jax import detection, live_sources, stream_scoring
from babycry_jax.data import media_audio
from conftest import REPO_ROOT

pytestmark = pytest.mark.timeout(300)


def _cry_file(shared_data) -> str:
  return str(sorted((shared_data / "real_audio/donateacry_cry/tired").glob("*.wav"))[0])


def _pcm_of(path: str) -> bytes:
  import wave
  with wave.open(path) as f:
    assert (f.getframerate(), f.getnchannels(), f.getsampwidth()) == (8000, 1, 2)
    return f.readframes(f.getnframes())


def test_scores_of_a_recording_streamed_over_http_equal_detects(shared_data):
  path = _cry_file(shared_data)
  stream = live_parts.WavStream(_pcm_of(path), 8000, speed=20.0)
  try:
    chunks = list(live_sources.PyavStream(stream.url, read_timeout_s=5.0).open())
  finally:
    stream.close()
  assert sum(len(c) for c, _ in chunks) == len(_pcm_of(path)) // 2
  for detector in (detection.shipped_detector("real_world_cnn_pool", batch_size=2),
                   live_parts.zero_shot_detector(batch_size=2)):
    expected = detector.detect(path, hop_s=0.5, smoothing_windows=1)
    scorer = stream_scoring.StreamScorer(detector, 0.5)
    timeline = scorer.new_timeline(chunks[0][1])
    scored = []
    for samples, _ in chunks:
      timeline.append(samples)
      scored += scorer.score(timeline)
    timeline.end()
    scored += scorer.score(timeline)
    np.testing.assert_allclose([w.start_s for w in scored], expected.window_starts_s, atol=1e-9)
    np.testing.assert_allclose([w.probability for w in scored], expected.probabilities,
                               rtol=1e-4, atol=1e-6)
    assert max(w.probability for w in scored) >= detector.default_threshold or \
        detector.model_name != "cnn_pool"   # the shipped model hears this cry


def test_a_stream_cut_and_resumed_goes_offline_reconnects_and_hears_the_cry(shared_data, tmp_path):
  """Quiet tap water, the cut (the camera gone 2.5 s), then a real cry after the resume."""
  tap = media_audio.read_audio(str(shared_data / "real_world/noise_backgrounds/running_tap.flac"),
                               8000)
  cry = media_audio.read_audio(_cry_file(shared_data), 8000)
  pcm = live_parts.to_pcm16(np.concatenate([tap[:8 * 8000], cry, tap[8 * 8000:12 * 8000]]))
  stream = live_parts.WavStream(pcm, 8000, speed=2.0, cut_at_s=4.0, down_s=2.5)
  log_path = tmp_path / "alerts.jsonl"
  proc = subprocess.Popen(
      [sys.executable, "-m", "babycry_jax.listen", stream.url, "--offline_s", "1.5",
       "--log_jsonl", str(log_path), "--status_every_s", "1"],
      cwd=REPO_ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

  def events():
    if not os.path.exists(log_path):
      return []
    with open(log_path) as f:
      return [json.loads(line) for line in f]

  try:
    live_parts.wait_for(lambda: any(e["event"] == "crying_started" for e in events()), 150,
                        "the cry after the reconnection")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
  finally:
    if proc.poll() is None:
      proc.kill()
    stream.close()
  err = err.decode()
  assert proc.returncode == 0 and "Traceback" not in err, err[-3000:]
  names = [e["event"] for e in events()]
  assert names[:4] == ["listening_started", "monitor_offline", "monitor_online", "crying_started"]
  assert names[-1] == "listening_stopped"
  assert stream.connections >= 2 and stream.refused >= 1
  assert "trying again in" in err and "connected again" in err
  offline = events()[1]
  assert offline["heard_s"] == pytest.approx(4.0, abs=0.1) and not offline["was_crying"]
  # The heard clock runs on across the cut: the cry began 8 s into the audio.
  started = events()[3]
  assert 8.0 < started["heard_s"] < 11.0
