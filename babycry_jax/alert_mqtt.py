"""Alerts and state on an MQTT broker, announced to Home Assistant so the monitor shows up by itself.

Under a base topic T (`babycry/<monitor>` by default):
  T/event         each alert, JSON, QoS 1, not retained
  T/state         the monitor's state, JSON, QoS 1, retained (state, probability, level)
  T/availability  "online" while the monitor hears its source, "offline" otherwise, retained;
                  the broker itself publishes "offline" (the last will) if the process dies
and, unless the discovery prefix is empty, Home Assistant's discovery messages
(retained, under <prefix>/<component>/<node>/<object>/config): a "Crying" binary
sensor, a "Cry probability" sensor (%), a "Sound level" sensor (dBFS) and a
"Cry alert" event entity, all on one device, all unavailable when the monitor
cannot hear. paho-mqtt's network thread connects, and reconnects with backoff,
on its own: a broker that is down delays the messages (QoS 1 ones are queued),
it never holds up the listening.
"""
from __future__ import annotations

import json
import re
import threading
import urllib.parse
from typing import Any, Optional

from babycry_jax import console
from babycry_jax.alert_sinks import AlertSink

log = console.logger()

DEFAULT_PORT, DEFAULT_TLS_PORT = 1883, 8883
ONLINE, OFFLINE = "online", "offline"
EVENT_TYPES = ("crying_started", "crying_stopped", "monitor_offline", "monitor_online",
               "listening_started", "listening_stopped")


def node_id(name: str) -> str:
  """A Home Assistant object id from a monitor name: lower case letters, digits and _."""
  return re.sub(r"[^a-z0-9_]+", "_", name.lower()).strip("_") or "babycry"


def parse_broker(url: str) -> dict[str, Any]:
  """{host, port, tls, username, password} of mqtt://[user[:password]@]host[:port] (mqtts: TLS)."""
  parts = urllib.parse.urlsplit(url if "://" in url else f"mqtt://{url}")
  if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
    raise ValueError(f"MQTT broker {url!r} is not mqtt://[user:password@]host[:port] "
                     "(or mqtts:// for TLS)")
  tls = parts.scheme == "mqtts"
  try:
    port = parts.port or (DEFAULT_TLS_PORT if tls else DEFAULT_PORT)
  except ValueError as e:
    raise ValueError(f"MQTT broker {url!r}: {e}") from None
  return {"host": parts.hostname, "port": port, "tls": tls,
          "username": urllib.parse.unquote(parts.username) if parts.username else None,
          "password": urllib.parse.unquote(parts.password) if parts.password else None}


def discovery_messages(prefix: str, topic: str, name: str) -> dict[str, dict[str, Any]]:
  """{config topic: payload} of Home Assistant's MQTT discovery for one monitor."""
  node = node_id(name)
  common = {"availability_topic": f"{topic}/availability", "payload_available": ONLINE,
            "payload_not_available": OFFLINE,
            "device": {"identifiers": [f"babycry_{node}"], "name": name,
                       "manufacturer": "babycry_jax", "model": "live cry monitor"}}
  entities = {
      ("binary_sensor", "crying"): {
          "name": "Crying", "device_class": "sound", "state_topic": f"{topic}/state",
          "value_template": "{{ 'ON' if value_json.state == 'crying' else 'OFF' }}",
          "json_attributes_topic": f"{topic}/state"},
      ("sensor", "cry_probability"): {
          "name": "Cry probability", "state_topic": f"{topic}/state", "unit_of_measurement": "%",
          "state_class": "measurement",
          "value_template": "{{ (value_json.probability * 100) | round(0) }}"},
      ("sensor", "sound_level"): {
          "name": "Sound level", "state_topic": f"{topic}/state", "unit_of_measurement": "dBFS",
          "state_class": "measurement", "value_template": "{{ value_json.level_dbfs }}"},
      ("event", "cry_alert"): {
          "name": "Cry alert", "state_topic": f"{topic}/event", "event_types": list(EVENT_TYPES),
          "value_template": "{{ {'event_type': value_json.event} | to_json }}"},
  }
  return {f"{prefix}/{component}/{node}/{object_id}/config":
          dict(common, unique_id=f"babycry_{node}_{object_id}", **fields)
          for (component, object_id), fields in entities.items()}


class MqttSink(AlertSink):
  """Publishes alerts, state and availability to a broker; see the module docstring."""

  def __init__(self, broker_url: str, topic: str, name: str, discovery_prefix: str = "homeassistant",
               keepalive_s: int = 30):
    import paho.mqtt.client as mqtt   # imported here: only a monitor with --mqtt needs it
    broker = parse_broker(broker_url)
    self.topic = topic.rstrip("/")
    self.name = f"MQTT {broker['host']}:{broker['port']}"
    self._discovery = (discovery_messages(discovery_prefix.rstrip("/"), self.topic, name)
                       if discovery_prefix else {})
    self._lock = threading.Lock()
    self._hearing = False
    self._last_state: Optional[bytes] = None
    self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                               client_id=f"babycry-{node_id(name)}-{id(self) % 100000}")
    if broker["username"]:
      self._client.username_pw_set(broker["username"], broker["password"])
    if broker["tls"]:
      self._client.tls_set()
    self._client.will_set(f"{self.topic}/availability", OFFLINE, qos=1, retain=True)
    self._client.reconnect_delay_set(min_delay=1, max_delay=60)
    self._client.on_connect = self._on_connect
    self._client.connect_async(broker["host"], broker["port"], keepalive=keepalive_s)
    self._client.loop_start()

  def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
    if reason_code.is_failure:
      log.warning("%s refused the connection: %s", self.name, reason_code)
      return
    # Retained messages again on every (re)connection: the broker may have restarted empty.
    for config_topic, payload in self._discovery.items():
      client.publish(config_topic, json.dumps(payload), qos=1, retain=True)
    with self._lock:
      hearing, state = self._hearing, self._last_state
    client.publish(f"{self.topic}/availability", ONLINE if hearing else OFFLINE, qos=1, retain=True)
    if state is not None:
      client.publish(f"{self.topic}/state", state, qos=1, retain=True)

  def alert(self, payload: dict[str, Any]) -> None:
    self._client.publish(f"{self.topic}/event", json.dumps(payload, sort_keys=True), qos=1)

  def state(self, payload: dict[str, Any]) -> None:
    body = json.dumps(payload, sort_keys=True).encode()
    with self._lock:
      self._last_state = body
    self._client.publish(f"{self.topic}/state", body, qos=1, retain=True)

  def availability(self, hearing: bool) -> None:
    with self._lock:
      self._hearing = hearing
    self._client.publish(f"{self.topic}/availability", ONLINE if hearing else OFFLINE, qos=1,
                         retain=True)

  def close(self, timeout_s: float = 3.0) -> None:
    """Says "offline" (retained) while still connected, then disconnects cleanly."""
    info = self._client.publish(f"{self.topic}/availability", OFFLINE, qos=1, retain=True)
    try:
      if self._client.is_connected():
        info.wait_for_publish(timeout=timeout_s)
    except (RuntimeError, ValueError):   # not connected: the last will says it for us
      pass
    self._client.disconnect()
    self._client.loop_stop()
