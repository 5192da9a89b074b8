"""`python -m babycry_jax.listen` as people run it: PCM piped to stdin, a real MQTT broker and
subscriber, webhook servers (one failing first), a JSON-lines log; a stall on stdin (offline,
then online); SIGTERM; bad input as one line; no sound device here."""
import json
import os
import signal
import subprocess
import sys
import threading

import numpy as np
import pytest

import live_parts
from babycry_jax.data import media_audio
from conftest import REPO_ROOT

pytestmark = pytest.mark.timeout(300)


def _listen(*args, stdin=subprocess.PIPE) -> subprocess.Popen:
  return subprocess.Popen([sys.executable, "-m", "babycry_jax.listen", *args], cwd=REPO_ROOT,
                          stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _events(path) -> list[str]:
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return [json.loads(line)["event"] for line in f]


def _real_cry_pcm(shared_data) -> tuple[bytes, float]:
  """8 kHz s16le: 8 s of a running tap, a real 7 s cry, 8 s of the tap; the cry's onset (s)."""
  cry = sorted((shared_data / "real_audio/donateacry_cry/hungry").glob("*.wav"))[0]
  tap = media_audio.read_audio(str(shared_data / "real_world/noise_backgrounds/running_tap.flac"),
                               8000)
  audio = np.concatenate([tap[:8 * 8000], media_audio.read_audio(str(cry), 8000),
                          tap[8 * 8000:16 * 8000]])
  return live_parts.to_pcm16(audio), 8.0


def test_stdin_pcm_with_a_real_cry_alerts_mqtt_webhooks_and_the_log(shared_data, tmp_path):
  pcm, onset_s = _real_cry_pcm(shared_data)
  flaky = live_parts.webhook_receiver(fail_first=2)
  log_path = tmp_path / "alerts.jsonl"
  with live_parts.mqtt_broker() as port:
    recorder = live_parts.MqttRecorder(port)
    proc = _listen("-", "--pcm_rate", "8000", "--name", "Nursery", "--cooldown_s", "3",
                   "--mqtt", f"mqtt://127.0.0.1:{port}", "--log_jsonl", str(log_path),
                   "--webhook", f"http://127.0.0.1:{flaky.server_address[1]}/hook",
                   "--webhook", f"http://127.0.0.1:{live_parts.free_port()}/nobody",
                   "--webhook_retries", "2", "--status_every_s", "0.05")
    out, err = proc.communicate(pcm, timeout=180)
    err = err.decode()
    assert proc.returncode == 0, err[-3000:]
    assert "Traceback" not in err
    expected = ["listening_started", "crying_started", "crying_stopped", "listening_stopped"]
    assert _events(log_path) == expected
    with open(log_path) as f:
      started = [json.loads(line) for line in f][1]
    assert onset_s < started["window_end_s"] < onset_s + 3.0   # the hop's window that heard it
    assert started["monitor"] == "Nursery" and started["source"].startswith("stdin")
    # The failing server got each alert in the end, after two 500s; the dead one delayed nothing.
    live_parts.wait_for(lambda: flaky.events() == expected, 20, "the webhooks")
    assert flaky.attempts == len(expected) + 2
    assert "webhook http://127.0.0.1" in err and "/nobody" in err
    live_parts.wait_for(lambda: recorder.events("babycry/nursery/event") == expected, 20, "MQTT")
    assert recorder.on("babycry/nursery/availability")[-1] == "offline"
    states = [json.loads(s)["state"] for s in recorder.on("babycry/nursery/state")]
    assert "crying" in states and states[-1] == "quiet"
    assert recorder.on("homeassistant/binary_sensor/nursery/crying/config")
    assert "crying" in out.decode() and "dBFS" in out.decode()   # the status lines
    recorder.close()
  flaky.stop()


def test_a_stalled_pipe_goes_offline_then_online_and_sigterm_ends_cleanly(tmp_path):
  """Generated audio only: stdin stops for longer than --offline_s, comes back, then SIGTERM."""
  log_path = tmp_path / "alerts.jsonl"
  web_port = live_parts.free_port()
  proc = _listen("-", "--offline_s", "1.5", "--log_jsonl", str(log_path), "--web_port",
                 str(web_port), "--status_every_s", "0.5")
  audio = live_parts.to_pcm16(live_parts.wailing(2.0, 16000, seed=5))

  def feed(times: int) -> None:
    for _ in range(times):
      proc.stdin.write(audio)
      proc.stdin.flush()

  resumed = threading.Event()

  def keep_feeding() -> None:   # 2 s of audio a second, until the monitor is stopped
    while not resumed.is_set():
      feed(1)
      resumed.wait(1.0)

  try:
    live_parts.wait_for(lambda: "listening_started" in _events(log_path), 120, "start")
    feed(4)   # 8 s of audio, at once
    live_parts.wait_for(lambda: "monitor_offline" in _events(log_path), 30, "offline")
    import urllib.request
    page = urllib.request.urlopen(f"http://127.0.0.1:{web_port}/", timeout=10).read().decode()
    assert "offline" in page
    png = urllib.request.urlopen(f"http://127.0.0.1:{web_port}/timeline.png", timeout=30).read()
    assert png.startswith(b"\x89PNG")
    threading.Thread(target=keep_feeding, daemon=True).start()
    live_parts.wait_for(lambda: "monitor_online" in _events(log_path), 30, "online")
    status = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{web_port}/status.json",
                                               timeout=10).read())
    assert status["state"] in ("quiet", "crying") and status["heard_s"] >= 8.0
    resumed.set()   # the feeding stops, stdin stays open: SIGTERM, not its end, stops the monitor
    proc.send_signal(signal.SIGTERM)
    live_parts.wait_for(lambda: "listening_stopped" in _events(log_path), 30, "stopped")
    out, err = proc.communicate(timeout=30)
  finally:
    resumed.set()
    if proc.poll() is None:
      proc.kill()
  assert proc.returncode == 0, err.decode()[-2000:]
  assert "Traceback" not in err.decode()
  events = _events(log_path)
  assert events[0] == "listening_started" and events[-1] == "listening_stopped"
  assert events.index("monitor_offline") < events.index("monitor_online")
  with open(log_path) as f:
    assert json.loads(f.readlines()[-1])["reason"] == "stopped"


@pytest.mark.parametrize("args,message", [
    (["ftp://camera/stream"], "unsupported URL scheme"),
    (["no/such/file.wav"], "neither '-'"),
    (["-", "--hop_s", "-1"], "--hop_s must be positive"),
    (["-", "--mqtt", "http://broker"], "mqtt://"),
    (["-", "--webhook", "nonsense"], "webhook"),
    (["device"], "PortAudio"),
    (["http://127.0.0.1:9/stream"], "cannot open http://127.0.0.1:9/stream"),
    (["rtsp://user:secret@127.0.0.1:9/cam", "--open_timeout_s", "3"], "user:***@"),
])
def test_bad_input_is_one_line_and_status_2(args, message):
  if args == ["device"]:
    try:
      import sounddevice  # noqa: F401
      pytest.skip("this machine has PortAudio")
    except OSError:
      pass
  proc = _listen(*args, stdin=subprocess.DEVNULL)
  _, err = proc.communicate(timeout=120)
  err = err.decode()
  assert proc.returncode == 2, err[-2000:]
  assert "Traceback" not in err
  errors = [line for line in err.splitlines() if "error:" in line]
  assert len(errors) == 1 and message in errors[0], err[-2000:]
  assert "secret" not in err
