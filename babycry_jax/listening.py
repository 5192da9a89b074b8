"""The live monitor's loop: a source's audio in, cry episodes and the monitor's health out.

A reader thread pulls chunks from the source into a bounded queue (so input fed
faster than it is scored waits in its pipe, not in memory). The loop appends
them to the connection's StreamTimeline, scores the windows that are complete
(stream_scoring), smooths them as `detect` does (segments.StreamingSmoother),
turns them into episodes (cry_episodes) and hands alerts and state to the
targets (alert_sinks.Alerts). It also watches the clock: no audio for offline_s
is "monitor offline" (availability off); audio again is "monitor online". A
network source that ends or fails is opened again after 1, 2, 4... seconds (up
to reconnect_max_s); stdin and files end the listening at their end, after
their last windows are scored. Stopping (a signal) ends it at once.
"""
from __future__ import annotations

import dataclasses
import datetime
import queue
import threading
import time
from typing import Any, Optional, Sequence

import numpy as np
import threadpoolctl

from babycry_jax import console, cry_episodes, segments
from babycry_jax.alert_sinks import Alerts
from babycry_jax.detection import Detector
from babycry_jax.live_sources import AudioSource, SourceError
from babycry_jax.stream_scoring import StreamScorer

log = console.logger()

_QUEUED_CHUNKS = 32        # the reader's queue: beyond it, input waits upstream
_POLL_S = 0.1              # how often the loop looks at the clock when no audio comes


@dataclasses.dataclass
class ListenSettings:
  hop_s: float = 0.5
  threshold: float = 0.5
  smoothing_windows: int = 3
  smoothing: str = "median"
  min_cry_s: float = 0.5
  cooldown_s: float = 30.0
  offline_s: float = 10.0
  reconnect: bool = True
  reconnect_min_s: float = 1.0
  reconnect_max_s: float = 30.0
  state_every_s: float = 10.0
  name: str = "Baby monitor"


def now_iso() -> str:
  return datetime.datetime.now().astimezone().isoformat(timespec="milliseconds")


def level_dbfs(samples: np.ndarray) -> float:
  """RMS level of audio in [-1, 1], in dB relative to full scale (-120 for silence)."""
  power = float(np.mean(np.square(samples, dtype=np.float64))) if len(samples) else 0.0
  return round(max(-120.0, 10.0 * np.log10(power + 1e-12)), 1)


class _Connection:
  """One opening of the source: its reader thread, its queue, its timeline and scorer."""

  def __init__(self, chunks, stop: threading.Event, scorer: StreamScorer):
    self.queue: queue.Queue = queue.Queue(maxsize=_QUEUED_CHUNKS)
    self.scorer = scorer
    self.timeline = None   # made on the first chunk, at its rate
    self._stop = stop
    threading.Thread(target=self._read, args=(chunks,), name="audio-reader", daemon=True).start()

  def _put(self, item) -> bool:
    while not self._stop.is_set():
      try:
        self.queue.put(item, timeout=_POLL_S)
        return True
      except queue.Full:
        continue
    return False

  def _read(self, chunks) -> None:
    try:
      for chunk in chunks:
        if not self._put(("audio", chunk)):
          return
      self._put(("end", "the input ended"))
    except SourceError as e:
      self._put(("lost", str(e)))
    except Exception as e:  # anything else a decoder raises is a lost source too, in one line
      self._put(("lost", f"unexpected {type(e).__name__}: {' '.join(str(e).split())}"))

  @property
  def received_s(self) -> float:
    return self.timeline.received_s if self.timeline is not None else 0.0


class Listener:
  """Runs one source through one detector until the input ends or `stop` is set.

  `observers` (live_status.StatusLine, live_status.History) hear each decided window
  (`window(start_s, end_s, raw, smoothed)`), the log-mel the model saw
  (`log_mel(start_s, frames)`) and the state now and then (`status(snapshot)`).
  """

  def __init__(self, detector: Detector, source: AudioSource, settings: ListenSettings,
               alerts: Alerts, observers: Sequence[Any] = ()):
    self.detector, self.source, self.settings, self.alerts = detector, source, settings, alerts
    self.observers = list(observers)
    self.hop_s = detector.hop(settings.hop_s)
    detector.plan_modalities(source.description, has_audio=True, has_video=False)
    self.smoother = segments.StreamingSmoother(settings.smoothing_windows, settings.smoothing)
    self.episodes = cry_episodes.CryEpisodes(cry_episodes.EpisodeSettings(
        settings.threshold, self.hop_s, settings.min_cry_s, settings.cooldown_s))
    self._conn: Optional[_Connection] = None
    self._heard_before_s = 0.0     # audio heard on the connections before this one
    self._stop = threading.Event()
    self._hearing = False
    self._last_audio = self._last_state_sent = self._last_status = time.monotonic()
    self._retry_at, self._backoff_s = 0.0, settings.reconnect_min_s
    self._probability, self._level, self._state = 0.0, -120.0, "starting"
    self.exit_status = 0

  @property
  def heard_s(self) -> float:
    """Seconds of audio heard since the listening began, over all connections."""
    return self._heard_before_s + (self._conn.received_s if self._conn else 0.0)

  # ------------------------------------------------------------------ payloads

  def _common(self) -> dict[str, Any]:
    return {"monitor": self.settings.name, "source": self.source.description, "time": now_iso(),
            "heard_s": round(self.heard_s, 3), "model": self.detector.model_name,
            "threshold": self.settings.threshold}

  def _alert(self, event: dict[str, Any]) -> None:
    payload = dict(self._common(), **event)
    log.info("alert: %s", event["event"].replace("_", " "))
    self.alerts.alert(payload)

  def snapshot(self) -> dict[str, Any]:
    """The state payload: state (starting, quiet, crying, offline), probability, level."""
    return dict(self._common(), state=self._state, probability=round(self._probability, 4),
                level_dbfs=self._level, hop_s=self.hop_s)

  def _set_state(self, state: str) -> None:
    if state != self._state:
      self._state = state
      self._send_state()

  def _send_state(self) -> None:
    """The state to the targets, and to the observers at once: the web page never lags a change."""
    self._last_state_sent = time.monotonic()
    snapshot = self.snapshot()
    self.alerts.state(snapshot)
    for observer in self.observers:
      observer.status(snapshot)

  # ------------------------------------------------------------------ the source

  def _connect(self, first: bool) -> None:
    """Opens the source; a first failure is raised (a bad source), a later one retried."""
    try:
      chunks = self.source.open()
    except SourceError as e:
      if first:
        raise
      self._retry_later(str(e))
      return
    scorer = StreamScorer(self.detector, self.hop_s, log_mel_sink=self._log_mel)
    self.smoother.reset()
    self._conn = _Connection(chunks, self._stop, scorer)
    if not first:
      log.info("connected again to %s", self.source.description)

  def _retry_later(self, why: str) -> None:
    log.warning("%s; trying again in %.0f s", why, self._backoff_s)
    self._retry_at = time.monotonic() + self._backoff_s
    self._backoff_s = min(2 * self._backoff_s, self.settings.reconnect_max_s)

  def _drop_connection(self) -> None:
    self._heard_before_s = self.heard_s
    self._conn = None

  def _log_mel(self, start_s: float, frames: np.ndarray) -> None:
    for observer in self.observers:
      observer.log_mel(self._heard_before_s + start_s, frames)

  # ------------------------------------------------------------------ audio and windows

  def _audio(self, samples: np.ndarray, rate: int) -> None:
    """A chunk: onto the timeline a hop at a time, scoring the windows it completes."""
    conn = self._conn
    if conn.timeline is None:
      conn.timeline = conn.scorer.new_timeline(rate)
    self._last_audio = time.monotonic()
    self._backoff_s = self.settings.reconnect_min_s
    if not self._hearing:
      self._hearing = True
      self.alerts.availability(True)
      was_offline = self._state == "offline"
      # The state first: whoever hears "monitor online" finds the monitor's state online too.
      self._set_state("crying" if self.episodes.crying else "quiet")
      if was_offline:
        self._alert({"event": "monitor_online"})
    self._level = level_dbfs(samples)
    piece = max(1, int(self.hop_s * rate))   # the timeline keeps a few hops: never feed more
    for first in range(0, len(samples), piece):
      conn.timeline.append(samples[first:first + piece])
      self._windows(conn.scorer.score(conn.timeline))

  def _windows(self, scored) -> None:
    for window in scored:
      for item, raw, smoothed in self.smoother.push(window, window.probability):
        self._decided(item, raw, smoothed)

  def _decided(self, window, raw: float, smoothed: float) -> None:
    """A window with its smoothed probability: the observers, the episode, the state."""
    start_s, end_s = self._heard_before_s + window.start_s, self._heard_before_s + window.end_s
    self._probability = smoothed
    for observer in self.observers:
      observer.window(start_s, end_s, raw, smoothed)
    for event in self.episodes.window(end_s, smoothed):
      self._alert(dict(event, window_end_s=round(window.end_s, 3)))
    if self._state != "offline":
      self._set_state("crying" if self.episodes.crying else "quiet")

  def _end_of_input(self) -> None:
    """The last windows of an ended input, as detect scores a file's last ones."""
    conn = self._conn
    if conn is not None and conn.timeline is not None:
      conn.timeline.end()
      self._windows(conn.scorer.score(conn.timeline))
    for item, raw, smoothed in self.smoother.finish():
      self._decided(item, raw, smoothed)
    for event in self.episodes.end():
      self._alert(event)

  # ------------------------------------------------------------------ the loop

  def _watch(self) -> None:
    """Offline after offline_s with no audio; the state sent again every state_every_s."""
    now = time.monotonic()
    if self._state != "offline" and now - self._last_audio >= self.settings.offline_s:
      was_crying = self.episodes.reset()
      self.smoother.reset()
      self._hearing = False
      self._state = "offline"
      # The state first: whoever hears "monitor offline" finds the page and state offline too.
      self.alerts.availability(False)
      self._send_state()
      self._alert({"event": "monitor_offline", "silent_s": round(now - self._last_audio, 1),
                   "was_crying": was_crying})
    if now - self._last_state_sent >= self.settings.state_every_s:
      self._send_state()
    if now - self._last_status >= _POLL_S:
      self._last_status = now
      snapshot = self.snapshot()
      for observer in self.observers:
        observer.status(snapshot)

  def _step(self) -> bool:
    """Handles what the source sent in the last moment; False when the listening is over."""
    if self._conn is None:
      if time.monotonic() >= self._retry_at:
        self._connect(first=False)
      else:
        self._stop.wait(_POLL_S)
      return True
    try:
      kind, value = self._conn.queue.get(timeout=_POLL_S)
    except queue.Empty:
      return True
    if kind == "audio":
      self._audio(*value)
      return True
    if self.source.reconnects and self.settings.reconnect:
      self._drop_connection()
      self._retry_later(value if kind == "lost" else f"{self.source.description}: {value}")
      return True
    if kind == "lost":
      log.error("%s", value)
      self.exit_status = 1
    self._end_of_input()
    return False

  def stop(self) -> None:
    """Ends the listening at once (from a signal handler or another thread)."""
    self._stop.set()

  def run(self) -> int:
    """Listens until the input ends or stop(); returns the exit status (0, or 1: source lost).

    Raises SourceError when the source cannot be opened at all.
    """
    # A hop's features are a few small BLAS calls, and BLAS's idle worker threads spin after
    # each: a fifth of a core on two cores, for nothing. BLAS stays on the calling thread.
    with threadpoolctl.threadpool_limits(limits=1, user_api="blas"):
      return self._listen()

  def _listen(self) -> int:
    if self.detector.patch_scorer is not None:
      self.detector.patch_scorer.warm()   # compiled before the source opens, not in its first window
    try:
      self._connect(first=True)
    except SourceError:
      self._close()
      raise
    self._alert({"event": "listening_started", "hop_s": self.hop_s,
                 "window_s": self.detector.spec.window_s})
    reason = "stopped"
    try:
      while not self._stop.is_set():
        if not self._step():
          reason = "end_of_input" if self.exit_status == 0 else "source_lost"
          break
        self._watch()
    finally:
      self._stop.set()   # the reader thread stops feeding
      self._alert({"event": "listening_stopped", "reason": reason})
      self._close()
    return self.exit_status

  def _close(self) -> None:
    for observer in self.observers:
      observer.close()
    self.alerts.close()
