r"""Listens for infant crying live: a microphone, a camera's stream or PCM on stdin, with alerts.

  python -m babycry_jax.listen device                                 # the default microphone
  python -m babycry_jax.listen rtsp://user:pass@camera/stream --mqtt mqtt://broker
  arecord -f S16_LE -r 16000 -c 1 -t raw | python -m babycry_jax.listen -
      [--workdir W | --shipped_model NAME] [--hop_s 0.5] [--threshold T] [--min_cry_s 0.5]
      [--cooldown_s 30] [--offline_s 10] [--mqtt URL] [--webhook URL] [--log_jsonl FILE]
      [--web_port 8080]

The same model, features, smoothing and threshold as `detect` (the scores of a
recording heard live equal detect's on the file). Alerts: crying started,
crying stopped, monitor offline and online, listening started and stopped;
see docs/live_monitor.md. Exit status 0 at the end of the input or on Ctrl-C /
SIGTERM, 1 when a source that is not reconnected fails, 2 on a bad source,
model or flag.
"""
from __future__ import annotations

import signal
import sys

from absl import app, flags

from babycry_jax import (alert_mqtt, alert_sinks, alert_webhook, console, detection,
                         detector_flags, listening, live_device, live_source_choice, live_sources,
                         live_status, live_web)

log = console.logger()

FLAGS = flags.FLAGS
detector_flags.define(0.5, "Seconds between window starts (a YAMNet-patch model's is a whole "
                      "number of 0.48 s patch hops). Smaller: quicker alerts, more CPU.",
                      1, "Windows per model call, or for a YAMNet-patch model the most patches "
                      "per call (more only helps input fed faster than real time).")
flags.adopt_module_key_flags(detector_flags)
flags.DEFINE_float("min_cry_s", 0.5, "Seconds of crying windows in a row (a hop each) before "
                   "'crying started'; with the median over 3 windows, one crying window already "
                   "means two in a row heard crying.")
flags.DEFINE_float("cooldown_s", 30.0, "Seconds with no crying window before 'crying stopped'; a "
                   "cry that resumes sooner is the same episode (no new alert).")
flags.DEFINE_float("offline_s", 10.0, "Seconds with no audio before 'monitor offline'.")
flags.DEFINE_bool("reconnect", True, "Open a network stream again when it ends or fails.")
flags.DEFINE_float("reconnect_max_s", 30.0, "Longest wait between reconnection attempts.")
flags.DEFINE_integer("pcm_rate", 16000, "Sample rate of PCM on stdin (SOURCE -).")
flags.DEFINE_integer("pcm_channels", 1, "Channels of PCM on stdin (interleaved).")
flags.DEFINE_enum("pcm_format", "s16le", list(live_sources.PCM_FORMATS), "Sample format of PCM on stdin.")
flags.DEFINE_integer("device_rate", None, "Sample rate to open an audio device at (default: its own).")
flags.DEFINE_bool("list_devices", False, "List the audio input devices and exit.")
flags.DEFINE_enum("rtsp_transport", "tcp", ["tcp", "udp"], "RTSP transport.")
flags.DEFINE_float("open_timeout_s", 10.0, "Seconds to wait for a stream or device to open.")
flags.DEFINE_string("name", "Baby monitor", "The monitor's name in alerts and in Home Assistant.")
flags.DEFINE_string("mqtt", None, "MQTT broker, mqtt://[user:password@]host[:port] (mqtts:// for TLS).")
flags.DEFINE_string("mqtt_topic", None, "Base topic (default babycry/<name>).")
flags.DEFINE_string("ha_discovery_prefix", "homeassistant",
                    "Home Assistant's MQTT discovery prefix ('' to send no discovery messages).")
flags.DEFINE_multi_string("webhook", [], "URL to POST each alert to as JSON (repeatable).")
flags.DEFINE_integer("webhook_retries", 5, "Retries of a failed POST, 1, 2, 4... s apart.",
                     lower_bound=0)
flags.DEFINE_string("log_jsonl", None, "File each alert is appended to, one JSON object a line.")
flags.DEFINE_integer("web_port", None, "Serve a local page with the state and the last minutes' "
                     "timeline on this port (0: any free port).")
flags.DEFINE_string("web_host", "127.0.0.1", "Address of the web page (the page has no login).")
flags.DEFINE_float("web_minutes", 10.0, "Minutes of timeline on the web page.")
flags.DEFINE_float("status_every_s", 10.0, "Seconds between status lines when stdout is not a "
                   "terminal (on a terminal the line is redrawn in place); a change of state "
                   "gets its line at once.")
flags.DEFINE_bool("status", True, "Print the status line.")


def _settings(threshold: float) -> listening.ListenSettings:
  for name in ("offline_s", "reconnect_max_s", "open_timeout_s", "web_minutes"):
    if getattr(FLAGS, name) <= 0:
      raise ValueError(f"--{name} must be positive, got {getattr(FLAGS, name)}")
  return listening.ListenSettings(
      hop_s=FLAGS.hop_s, threshold=threshold, smoothing_windows=FLAGS.smoothing_windows,
      smoothing=FLAGS.smoothing, min_cry_s=FLAGS.min_cry_s, cooldown_s=FLAGS.cooldown_s,
      offline_s=FLAGS.offline_s, reconnect=FLAGS.reconnect,
      reconnect_max_s=FLAGS.reconnect_max_s, name=FLAGS.name)


def _targets() -> list[alert_sinks.AlertSink]:
  """The alert targets the flags ask for (ValueError on a bad URL)."""
  webhooks = [alert_webhook.check_url(url) for url in FLAGS.webhook]
  if FLAGS.mqtt:
    alert_mqtt.parse_broker(FLAGS.mqtt)
  sinks: list[alert_sinks.AlertSink] = []
  if FLAGS.log_jsonl:
    sinks.append(alert_sinks.JsonLinesSink(FLAGS.log_jsonl))
  sinks += [alert_webhook.WebhookSink(url, retries=FLAGS.webhook_retries) for url in webhooks]
  if FLAGS.mqtt:
    topic = FLAGS.mqtt_topic or f"babycry/{alert_mqtt.node_id(FLAGS.name)}"
    sinks.append(alert_mqtt.MqttSink(FLAGS.mqtt, topic, FLAGS.name, FLAGS.ha_discovery_prefix))
  return sinks


def _source(text: str) -> live_sources.AudioSource:
  return live_source_choice.choose(
      text, pcm_rate=FLAGS.pcm_rate, pcm_channels=FLAGS.pcm_channels,
      pcm_format=FLAGS.pcm_format, device_rate=FLAGS.device_rate,
      open_timeout_s=FLAGS.open_timeout_s, read_timeout_s=FLAGS.offline_s,
      rtsp_transport=FLAGS.rtsp_transport)


def _fail(error: Exception) -> None:
  log.error("error: %s", " ".join(str(error).split()))
  sys.exit(2)


def main(argv):
  console.quiet_libraries()
  if FLAGS.list_devices:
    try:
      print(live_device.describe_devices())
    except live_sources.SourceError as e:
      _fail(e)
    return
  if len(argv) != 2:
    _fail(ValueError("give one SOURCE: '-' (PCM on stdin), 'device[:NAME]', a stream URL or a file"))
  web = None
  try:
    detector_flags.check()
    source = _source(argv[1])
    detector = detector_flags.detector()
    settings = _settings(detector_flags.threshold(detector))
    observers: list = [live_status.StatusLine(every_s=FLAGS.status_every_s)] if FLAGS.status else []
    if FLAGS.web_port is not None:
      history = live_status.History(FLAGS.web_minutes, settings.threshold, FLAGS.name)
      web = live_web.WebPage(history, FLAGS.web_host, FLAGS.web_port)
      observers.append(history)
    listener = listening.Listener(detector, source, settings, alert_sinks.Alerts(_targets()),
                                  observers)
  except (FileNotFoundError, ValueError, detection.DetectError, live_sources.SourceError) as e:
    _fail(e)
  for signum in (signal.SIGINT, signal.SIGTERM):
    signal.signal(signum, lambda *_: listener.stop())
  log.info("listening to %s with %s (hop %.2f s, threshold %.3f)", source.description,
           detector.source, listener.hop_s, settings.threshold)
  try:
    status = listener.run()
  except live_sources.SourceError as e:
    _fail(e)
  finally:
    if web is not None:
      web.close()
  sys.exit(status)


if __name__ == "__main__":
  app.run(main, flags_parser=console.parse_flags)
