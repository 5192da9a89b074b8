"""An event mixed into a background at a chosen SNR: the ratio holds, the seed decides."""
import numpy as np
import pytest

from preprocess import mixing


def _signals(seed=0):
  rng = np.random.default_rng(seed)
  t = np.arange(8000) / 8000
  event = (0.5 * np.sin(2 * np.pi * 450 * t) * np.hanning(len(t))).astype(np.float32)
  background = (0.05 * rng.standard_normal(40000)).astype(np.float32)
  return event, background


@pytest.mark.parametrize("snr_db", [-10.0, 0.0, 6.0, 20.0])
def test_the_measured_snr_is_the_one_asked_for(snr_db):
  event, background = _signals()
  mix = mixing.mix_at_snr(event, background, snr_db, seed=3, length=32000)
  span = slice(mix.event_start, mix.event_start + mix.event_length)
  excerpt = background[mix.background_start:mix.background_start + 32000]
  added_event = mix.audio[span] - excerpt[span]
  assert mix.audio.shape == (32000,) and mix.audio.dtype == np.float32
  assert mixing.power_db_ratio(added_event, excerpt[span]) == pytest.approx(snr_db, abs=0.01)
  # Outside the event's span the mixture is the background excerpt itself.
  np.testing.assert_array_equal(np.delete(mix.audio, np.r_[span]), np.delete(excerpt, np.r_[span]))


def test_the_same_seed_gives_the_same_mixture_and_another_seed_another():
  event, background = _signals()
  one = mixing.mix_at_snr(event, background, 5.0, seed=7, length=32000)
  again = mixing.mix_at_snr(event, background, 5.0, seed=7, length=32000)
  other = mixing.mix_at_snr(event, background, 5.0, seed=8, length=32000)
  np.testing.assert_array_equal(one.audio, again.audio)
  assert (one.event_start, one.background_start) != (other.event_start, other.background_start)


def test_a_short_background_is_looped_and_a_long_event_cut():
  event, background = _signals()
  mix = mixing.mix_at_snr(np.tile(event, 5), background[:1000], 0.0, seed=0, length=16000)
  assert mix.audio.shape == (16000,) and mix.event_length == 16000 and mix.event_start == 0


@pytest.mark.parametrize("event,background,snr_db,match", [
    (np.zeros(100), np.ones(100), 0.0, "silence"),
    (np.ones(100), np.zeros(100), 0.0, "silence"),
    (np.ones(0), np.ones(100), 0.0, "must both hold audio"),
    (np.ones(100), np.ones(100), float("nan"), "finite"),
])
def test_bad_input_is_refused(event, background, snr_db, match):
  with pytest.raises(ValueError, match=match):
    mixing.mix_at_snr(event, background, snr_db, seed=0)
