"""From smoothed window probabilities to cry episodes: when to say "crying started" and "stopped".

A window whose smoothed probability (segments.StreamingSmoother) reaches the
threshold is a crying window, as in `detect`'s segments. An episode is announced
once crying windows have followed one another for min_cry_s of new audio (each
window brings hop_s of it, the first included), so a cough or a door is not an
alert. It ends, with "crying stopped", only after cooldown_s of audio with no
crying window: a cry that pauses for breath goes on as the same episode, so a
crying baby raises one alert, not one per sob.
Times are seconds of audio heard (the listener's clock, which stops while the
source is silent or gone).
"""
from __future__ import annotations

import dataclasses
from typing import Any, Optional

CRYING_STARTED, CRYING_STOPPED = "crying_started", "crying_stopped"


@dataclasses.dataclass
class EpisodeSettings:
  threshold: float
  hop_s: float
  min_cry_s: float
  cooldown_s: float

  def check(self) -> None:
    if not 0.0 <= self.threshold <= 1.0:
      raise ValueError(f"threshold must be within [0, 1], got {self.threshold}")
    for name in ("min_cry_s", "cooldown_s"):
      if getattr(self, name) < 0:
        raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")


class CryEpisodes:
  """Crying windows in, episode events out ({"event": ..., timings in heard seconds})."""

  def __init__(self, settings: EpisodeSettings):
    settings.check()
    self.settings = settings
    self._run_first_end: Optional[float] = None   # end of the first window of the crying run
    self._episode_first_end: Optional[float] = None
    self._last_cry_end: Optional[float] = None
    self._peak = 0.0

  @property
  def crying(self) -> bool:
    """True from "crying started" to "crying stopped"."""
    return self._episode_first_end is not None

  def window(self, end_s: float, smoothed: float) -> list[dict[str, Any]]:
    """The next window (its end, in heard seconds, and its smoothed probability) -> events."""
    s = self.settings
    if smoothed >= s.threshold:
      if self._run_first_end is None:
        self._run_first_end = end_s
      self._last_cry_end = end_s
      self._peak = max(self._peak, smoothed)
      if not self.crying and end_s - self._run_first_end + s.hop_s >= s.min_cry_s - 1e-9:
        self._episode_first_end = self._run_first_end
        return [{"event": CRYING_STARTED, "probability": smoothed,
                 "cried_s": round(end_s - self._run_first_end + s.hop_s, 3)}]
      return []
    self._run_first_end = None
    if not self.crying:
      self._peak = 0.0
      return []
    if end_s - self._last_cry_end >= s.cooldown_s - 1e-9:
      return [self._stopped("quiet")]
    return []

  def _stopped(self, reason: str) -> dict[str, Any]:
    event = {"event": CRYING_STOPPED, "reason": reason, "peak_probability": self._peak,
             "cried_s": round(self._last_cry_end - self._episode_first_end + self.settings.hop_s, 3)}
    self.reset()
    return event

  def end(self) -> list[dict[str, Any]]:
    """The input ended: an open episode stops there."""
    return [self._stopped("end_of_input")] if self.crying else []

  def reset(self) -> bool:
    """Forgets any run or episode (the monitor stopped hearing); True if an episode was open."""
    was_crying = self.crying
    self._run_first_end = self._episode_first_end = self._last_cry_end = None
    self._peak = 0.0
    return was_crying
