"""Real parts for the live monitor's tests, all on 127.0.0.1: an MQTT broker (amqtt) and a
subscriber (paho), a webhook receiver that can fail, an HTTP server streaming a WAV in real
time that can be cut and resumed, generated cry-like audio and a zero-shot YAMNet detector."""
from __future__ import annotations

import asyncio
import contextlib
import http.server
import json
import socket
import struct
import threading
import time
import wave

import numpy as np

from babycry_jax import detection, runs, train_state, warm_start
from babycry_jax.data import schema
from configs import yamnet_zero_shot


def free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def wait_for(predicate, timeout_s: float, what: str):
  """Polls predicate() until it is truthy (returned) or timeout_s passes (AssertionError)."""
  deadline = time.monotonic() + timeout_s
  while time.monotonic() < deadline:
    value = predicate()
    if value:
      return value
    time.sleep(0.05)
  raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


# ---------------------------------------------------------------- audio

def wailing(seconds: float, rate: int, seed: int = 0, loud: float = 0.3) -> np.ndarray:
  """float32 mono: a harmonic 'wah' at ~400 Hz with vibrato, in bursts, over faint noise."""
  rng = np.random.default_rng(seed)
  t = np.arange(int(round(seconds * rate))) / rate
  pitch = 400 + 60 * np.sin(2 * np.pi * 4.5 * t)
  phase = 2 * np.pi * np.cumsum(pitch) / rate
  voice = sum(np.sin(k * phase) / k for k in (1, 2, 3, 4))
  envelope = np.clip(np.sin(2 * np.pi * 0.6 * t) * 2, 0, 1)
  return (loud * envelope * voice + 0.01 * rng.standard_normal(len(t))).astype(np.float32)


def to_pcm16(audio: np.ndarray) -> bytes:
  """Interleaved s16le bytes of float audio [n] or [n, channels]."""
  return (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()


def write_wav(path, audio: np.ndarray, rate: int) -> str:
  audio = np.asarray(audio)
  with wave.open(str(path), "wb") as f:
    f.setnchannels(1 if audio.ndim == 1 else audio.shape[1])
    f.setsampwidth(2)
    f.setframerate(rate)
    f.writeframes(to_pcm16(audio))
  return str(path)


def zero_shot_detector(batch_size: int = 4) -> detection.Detector:
  """YAMNet as it comes (head zero_shot) as a patch model's Detector, on the paper spec."""
  config = yamnet_zero_shot.get_config()
  spec = schema.preset("paper")
  model = train_state.create_model(config)
  state = train_state.create_train_state(config, model, spec, steps_per_epoch=1)
  state = warm_start.apply(state, config)[0]
  metadata = {"feature_spec": spec.to_json(), "record_format": schema.RECORD_FORMAT,
              "stats": {schema.LOG_MEL: {"mean": 0.0, "std": 1.0},
                        schema.MFCC_STATS: {"mean": [0.0] * 78, "std": [1.0] * 78},
                        schema.FRAMES: {"mean": 0.0, "std": 1.0}}}
  run = runs.Run(config, model, state, 0, spec, metadata)
  return detection.Detector(None, run=run, source="zero-shot YAMNet", batch_size=batch_size)


# ---------------------------------------------------------------- MQTT

@contextlib.contextmanager
def mqtt_broker():
  """A real amqtt broker on 127.0.0.1 in a thread of its own; yields its port."""
  from amqtt.broker import Broker
  port = free_port()
  config = {"listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}}}
  loop = asyncio.new_event_loop()
  brokers = []
  started = threading.Event()

  def serve():
    # Built in its loop's thread: the broker asks for the current loop, which this test
    # process's main thread may no longer have once an earlier test ran asyncio.run.
    asyncio.set_event_loop(loop)
    brokers.append(Broker(config, loop=loop))
    loop.run_until_complete(brokers[0].start())
    started.set()
    loop.run_forever()

  thread = threading.Thread(target=serve, daemon=True)
  thread.start()
  assert started.wait(20), "the MQTT broker did not start"
  try:
    yield port
  finally:
    asyncio.run_coroutine_threadsafe(brokers[0].shutdown(), loop).result(timeout=20)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=10)


class MqttRecorder:
  """A paho client subscribed to `topics`, keeping (topic, payload text, retained) of each message."""

  def __init__(self, port: int, topics=("#",)):
    import paho.mqtt.client as mqtt
    self.messages: list[tuple[str, str, bool]] = []
    self._lock = threading.Lock()
    MqttRecorder.count = getattr(MqttRecorder, "count", 0) + 1   # a broker drops a second same id
    self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                               client_id=f"recorder-{port}-{MqttRecorder.count}")
    self._client.on_message = self._on_message
    self._client.on_connect = lambda c, *_: [c.subscribe(t, qos=1) for t in topics]
    self._client.connect("127.0.0.1", port)
    self._client.loop_start()

  def _on_message(self, client, userdata, message) -> None:
    with self._lock:
      self.messages.append((message.topic, message.payload.decode(), bool(message.retain)))

  def on(self, topic: str) -> list[str]:
    with self._lock:
      return [payload for t, payload, _ in self.messages if t == topic]

  def events(self, topic: str) -> list[str]:
    return [json.loads(p)["event"] for p in self.on(topic)]

  def close(self) -> None:
    self._client.disconnect()
    self._client.loop_stop()


# ---------------------------------------------------------------- HTTP

class _Server(http.server.ThreadingHTTPServer):
  daemon_threads = True


@contextlib.contextmanager
def serving(handler: type):
  server = _Server(("127.0.0.1", 0), handler)
  threading.Thread(target=server.serve_forever, daemon=True).start()
  try:
    yield server
  finally:
    server.shutdown()
    server.server_close()


def webhook_receiver(fail_first: int = 0):
  """A server keeping every POSTed JSON body (`.bodies`); it answers 500 to the first fail_first."""
  class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
      body = self.rfile.read(int(self.headers["Content-Length"]))
      with self.server.lock:
        self.server.attempts += 1
        failing = self.server.attempts <= fail_first
        if not failing:
          self.server.bodies.append(json.loads(body))
      self.send_response(500 if failing else 200)
      self.send_header("Content-Length", "0")
      self.end_headers()

    def log_message(self, *args):
      pass

  context = serving(Handler)
  server = context.__enter__()
  server.lock, server.attempts, server.bodies = threading.Lock(), 0, []
  server.events = lambda: [b["event"] for b in list(server.bodies)]
  server.stop = lambda: context.__exit__(None, None, None)
  return server


def wav_header(rate: int) -> bytes:
  """A mono s16le WAV header whose length is unknown (a live stream's)."""
  unknown = 0xFFFFFFFF
  return (b"RIFF" + struct.pack("<I", unknown) + b"WAVE" + b"fmt "
          + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
          + b"data" + struct.pack("<I", unknown))


class WavStream:
  """Serves mono s16le PCM as an endless-looking WAV over HTTP, paced at `speed` x real time.

  With cut_at_s, the first connection is closed after that much audio; new
  connections get 503 for down_s seconds, then the audio goes on from the cut.
  """

  def __init__(self, pcm: bytes, rate: int, speed: float = 1.0, cut_at_s: float | None = None,
               down_s: float = 0.0, chunk_s: float = 0.05):
    self.pcm, self.rate, self.speed = pcm, rate, speed
    self.cut_at, self.down_s, self.chunk = cut_at_s, down_s, int(rate * chunk_s) * 2
    self.position, self.connections, self.refused = 0, 0, 0
    self.cut_time: float | None = None
    stream = self

    class Handler(http.server.BaseHTTPRequestHandler):
      protocol_version = "HTTP/1.0"

      def do_GET(self):
        stream.serve(self)

      def log_message(self, *args):
        pass

    self._context = serving(Handler)
    self.server = self._context.__enter__()
    self.url = f"http://127.0.0.1:{self.server.server_address[1]}/live.wav"

  def serve(self, handler) -> None:
    if self.cut_time is not None and time.monotonic() - self.cut_time < self.down_s:
      self.refused += 1
      handler.send_error(503, "camera restarting")
      return
    self.connections += 1
    handler.send_response(200)
    handler.send_header("Content-Type", "audio/wav")
    handler.end_headers()
    handler.wfile.write(wav_header(self.rate))
    cut = None if self.cut_at is None or self.cut_time is not None else int(self.cut_at * self.rate) * 2
    started, sent = time.monotonic(), 0
    try:
      while self.position < len(self.pcm):
        if cut is not None and self.position >= cut:
          self.cut_time = time.monotonic()
          return   # the connection drops mid-stream
        piece = self.pcm[self.position:self.position + self.chunk]
        handler.wfile.write(piece)
        handler.wfile.flush()
        self.position += len(piece)
        sent += len(piece)
        ahead = sent / 2 / self.rate / self.speed - (time.monotonic() - started)
        if ahead > 0:
          time.sleep(ahead)
    except (BrokenPipeError, ConnectionResetError):
      return

  def close(self) -> None:
    self._context.__exit__(None, None, None)
