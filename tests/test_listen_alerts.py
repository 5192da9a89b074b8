"""Alert targets against real servers on 127.0.0.1: an amqtt broker with a paho subscriber, HTTP
servers receiving webhooks (one failing first), a JSON-lines log; and the episodes they report."""
import json
import socket
import time

import pytest

import live_parts
from babycry_jax import alert_mqtt, alert_sinks, alert_webhook, cry_episodes

pytestmark = pytest.mark.timeout(120)


def test_episodes_wait_for_min_cry_and_ride_out_pauses_shorter_than_the_cooldown():
  episodes = cry_episodes.CryEpisodes(cry_episodes.EpisodeSettings(
      threshold=0.5, hop_s=0.5, min_cry_s=1.0, cooldown_s=2.0))
  probabilities = ([0.1] * 4 + [0.9] + [0.1] * 2            # one crying window: no alert
                   + [0.8] * 6 + [0.2] * 3 + [0.7] * 2       # a cry, a 1.5 s pause, the same cry
                   + [0.1] * 5)                              # 2.5 s of quiet: stopped
  events = []
  for k, p in enumerate(probabilities):
    for event in episodes.window(end_s=4.0 + 0.5 * k, smoothed=p):
      events.append((k, event["event"], event.get("cried_s")))
  assert events == [(8, "crying_started", 1.0), (21, "crying_stopped", 5.5)]
  assert not episodes.crying and episodes.end() == []
  episodes.window(100.0, 0.9), episodes.window(100.5, 0.9)
  assert episodes.crying and episodes.end()[0]["reason"] == "end_of_input"
  with pytest.raises(ValueError, match="min_cry_s"):
    cry_episodes.EpisodeSettings(0.5, 0.5, -1.0, 1.0).check()


def test_mqtt_discovery_availability_state_events_and_the_last_will():
  with live_parts.mqtt_broker() as port:
    sink = alert_mqtt.MqttSink(f"mqtt://127.0.0.1:{port}", "babycry/nursery", "Nursery")
    early = live_parts.MqttRecorder(port)
    live_parts.wait_for(lambda: early.on("babycry/nursery/availability"), 10, "availability")
    sink.availability(True)
    sink.state({"state": "quiet", "probability": 0.1, "level_dbfs": -50.0})
    sink.alert({"event": "crying_started", "probability": 0.9})
    live_parts.wait_for(lambda: early.events("babycry/nursery/event") == ["crying_started"], 10,
                        "the event")
    # A subscriber that comes later still finds the retained discovery, availability and state.
    late = live_parts.MqttRecorder(port)
    config = live_parts.wait_for(
        lambda: late.on("homeassistant/binary_sensor/nursery/crying/config"), 10, "discovery")
    crying = json.loads(config[0])
    assert crying["state_topic"] == "babycry/nursery/state"
    assert crying["availability_topic"] == "babycry/nursery/availability"
    assert crying["device"]["name"] == "Nursery" and crying["unique_id"] == "babycry_nursery_crying"
    for entity in ("sensor/nursery/cry_probability", "sensor/nursery/sound_level",
                   "event/nursery/cry_alert"):
      live_parts.wait_for(lambda: late.on(f"homeassistant/{entity}/config"), 10, entity)
    live_parts.wait_for(lambda: late.on("babycry/nursery/availability")[-1:] == ["online"], 10, "online")
    assert json.loads(late.on("babycry/nursery/state")[-1])["state"] == "quiet"
    assert all(retained for t, _, retained in late.messages if t.endswith("/config"))
    sink.close()
    live_parts.wait_for(lambda: early.on("babycry/nursery/availability")[-1:] == ["offline"], 10,
                        "offline on close")
    # A monitor that dies without a word: the broker publishes its last will.
    dying = alert_mqtt.MqttSink(f"mqtt://127.0.0.1:{port}", "babycry/attic", "Attic", "")
    dying.availability(True)
    live_parts.wait_for(lambda: early.on("babycry/attic/availability")[-1:] == ["online"], 10, "up")
    dying._client.loop_stop()
    dying._client.socket().shutdown(socket.SHUT_RDWR)
    live_parts.wait_for(lambda: early.on("babycry/attic/availability")[-1:] == ["offline"], 20,
                        "the last will")
    assert not late.on("homeassistant/binary_sensor/attic/crying/config")   # discovery off
    early.close(), late.close()


def test_a_broker_that_is_down_never_holds_up_an_alert():
  sink = alert_mqtt.MqttSink(f"mqtt://127.0.0.1:{live_parts.free_port()}", "babycry/x", "X")
  started = time.monotonic()
  for _ in range(20):
    sink.alert({"event": "crying_started"})
    sink.state({"state": "crying"})
  assert time.monotonic() - started < 1.0
  sink.close(timeout_s=0.5)


def test_webhook_retries_a_failing_server_and_the_other_targets_go_on(tmp_path):
  flaky = live_parts.webhook_receiver(fail_first=2)
  dead_url = f"http://127.0.0.1:{live_parts.free_port()}/hook"
  failures = []

  class Broken(alert_sinks.AlertSink):
    name = "broken"

    def alert(self, payload):
      raise RuntimeError("disk on fire")

  log_path = tmp_path / "alerts.jsonl"
  alerts = alert_sinks.Alerts([
      Broken(),
      alert_webhook.WebhookSink(dead_url, retries=2, backoff_s=0.2, drain_s=1.0,
                                on_failure=lambda name, e: failures.append(name)),
      alert_webhook.WebhookSink(f"http://127.0.0.1:{flaky.server_address[1]}/hook", retries=4,
                                backoff_s=0.2),
      alert_sinks.JsonLinesSink(str(log_path))])
  started = time.monotonic()
  alerts.alert({"event": "crying_started"})
  alerts.alert({"event": "crying_stopped"})
  assert time.monotonic() - started < 0.5   # nothing waited for a server
  live_parts.wait_for(lambda: flaky.events() == ["crying_started", "crying_stopped"], 15,
                      "the webhooks after two 500s")
  assert flaky.attempts == 4
  live_parts.wait_for(lambda: len(failures) == 2, 15, "the dead webhook to give up")
  alerts.close()
  assert [json.loads(line)["event"] for line in log_path.read_text().splitlines()] == [
      "crying_started", "crying_stopped"]
  flaky.stop()
  with pytest.raises(ValueError, match="http"):
    alert_webhook.check_url("ftp://example/hook")
  with pytest.raises(ValueError, match="mqtt://"):
    alert_mqtt.parse_broker("http://broker")
  assert alert_mqtt.parse_broker("mqtts://u:p%40ss@b")["password"] == "p@ss"
