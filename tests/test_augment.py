"""Augmentation: each op does what it says, and only that."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from babycry_jax import augment


def _batch(b=8, t=40, m=16, f=4):
  rng = np.random.default_rng(0)
  return {
      "log_mel": jnp.asarray(rng.normal(size=(b, t, m)) + 5.0, jnp.float32),
      "mfcc_stats": jnp.asarray(rng.normal(size=(b, 78)) + 5.0, jnp.float32),
      "frames": jnp.asarray(rng.normal(size=(b, f, 8, 8, 1)) + 5.0, jnp.float32),
      "has_audio": jnp.ones((b,)), "has_video": jnp.ones((b,)),
      "label": jnp.asarray(np.arange(b) % 2, jnp.int32), "weight": jnp.ones((b,)),
  }


def test_all_off_is_identity():
  batch = _batch()
  out = augment.apply(jax.random.PRNGKey(0), batch, augment.AugmentConfig(), 0.0)
  for k in batch:
    np.testing.assert_array_equal(out[k], batch[k])


def test_spec_augment_masks_bands_with_zero():
  x = _batch(b=64)["log_mel"]
  y = np.asarray(augment.spec_augment(jax.random.PRNGKey(1), x))
  masked = y == 0
  assert masked.any() and masked.mean() < 0.5
  np.testing.assert_array_equal(y[~masked], np.asarray(x)[~masked])
  # A masked mel band is masked at every time step of that example.
  full_bands = masked.all(axis=1)
  assert full_bands.any()


def test_time_shift_moves_audio_and_video_together():
  batch = _batch()
  t, f = batch["log_mel"].shape[1], batch["frames"].shape[1]
  out = augment.time_shift(jax.random.PRNGKey(2), batch)
  for i in range(8):
    shift_mel = next(s for s in range(t) if np.allclose(np.roll(batch["log_mel"][i], s, 0), out["log_mel"][i]))
    shift_frames = next(s for s in range(f) if np.allclose(np.roll(batch["frames"][i], s, 0), out["frames"][i]))
    gap = (shift_mel / t - shift_frames / f) % 1.0  # shifts are circular
    assert min(gap, 1.0 - gap) <= 0.5 / f + 0.5 / t


def test_modality_dropout_hides_one_track_never_both():
  batch = _batch(b=256)
  out = augment.modality_dropout(jax.random.PRNGKey(3), batch, 0.5)
  has_a, has_v = np.asarray(out["has_audio"]), np.asarray(out["has_video"])
  assert ((has_a + has_v) >= 1).all()
  assert 0.35 < 1 - (has_a * has_v).mean() < 0.65
  hidden_audio = has_a == 0
  assert not np.asarray(out["log_mel"])[hidden_audio].any()
  assert not np.asarray(out["frames"])[has_v == 0].any()
  np.testing.assert_array_equal(out["frames"][hidden_audio], batch["frames"][hidden_audio])


def test_mixup_soft_labels_sum_to_one_and_mix_inputs():
  batch = _batch()
  out = augment.mixup(jax.random.PRNGKey(4), batch, 0.4)
  labels = np.asarray(out["label"])
  assert labels.shape == (8, 2)
  np.testing.assert_allclose(labels.sum(-1), 1.0, rtol=1e-6)
  assert not np.allclose(out["log_mel"], batch["log_mel"])


def test_flip_mirrors_frames_horizontally():
  batch = _batch(b=32)
  out = augment.apply(jax.random.PRNGKey(5), batch, augment.AugmentConfig(flip=True), 0.0)
  flipped = [not np.allclose(out["frames"][i], batch["frames"][i]) for i in range(32)]
  assert 5 < sum(flipped) < 27
  i = flipped.index(True)
  np.testing.assert_array_equal(out["frames"][i], batch["frames"][i][:, :, ::-1])


def _mel_power(db):
  return np.mean(10.0 ** (np.asarray(db, np.float64) / 10.0), axis=(1, 2))


def test_mix_at_snr_sets_the_asked_ratio_of_powers():
  rng = np.random.default_rng(6)
  # Realistic decibel levels: a floor near -100 dB next to loud bands, which must not overflow.
  x = jnp.asarray(rng.uniform(-100, 40, (4, 50, 16)), jnp.float32)
  partner = jnp.asarray(rng.uniform(-100, 40, (4, 50, 16)), jnp.float32)
  snr = jnp.asarray([-6.0, 0.0, 7.5, 20.0])
  mixed = np.asarray(augment.mix_at_snr(x, partner, snr))
  assert np.isfinite(mixed).all() and (mixed >= np.asarray(x) - 1e-3).all()
  added = _mel_power(mixed) - _mel_power(x)
  np.testing.assert_allclose(10 * np.log10(_mel_power(x) / added), snr, atol=0.05)


def _negatives_batch(b=8):
  rng = np.random.default_rng(7)
  return {"log_mel": jnp.asarray(rng.uniform(-40, 20, (b, 30, 8)), jnp.float32),
          "has_audio": jnp.asarray([1, 1, 1, 1, 1, 1, 0, 1], jnp.float32)[:b],
          "label": jnp.asarray([1, 1, 1, 0, 1, 1, 1, 1], jnp.int32)[:b],
          "weight": jnp.ones((b,))}


def test_negative_mix_adds_only_a_negative_within_the_snr_range_deterministically():
  batch = _negatives_batch()
  db = batch["log_mel"]
  out = np.asarray(augment.negative_mix(jax.random.PRNGKey(8), db, batch, 1.0, (3.0, 9.0)))
  again = np.asarray(augment.negative_mix(jax.random.PRNGKey(8), db, batch, 1.0, (3.0, 9.0)))
  other = np.asarray(augment.negative_mix(jax.random.PRNGKey(9), db, batch, 1.0, (3.0, 9.0)))
  np.testing.assert_array_equal(out, again)
  assert not np.allclose(out, other)
  # The one negative has no other negative to take; the example without audio is left alone.
  np.testing.assert_array_equal(out[3], db[3])
  np.testing.assert_array_equal(out[6], db[6])
  for i in (0, 1, 2, 4, 5, 7):   # every cry got the negative (example 3), at an SNR in range
    snr = 10 * np.log10(_mel_power(db[i:i + 1]) / (_mel_power(out[i:i + 1]) - _mel_power(db[i:i + 1])))
    assert 3.0 - 0.05 <= snr[0] <= 9.0 + 0.05
    np.testing.assert_allclose(out[i], augment.mix_at_snr(db[i:i + 1], db[3:4], jnp.asarray(snr))[0],
                               atol=1e-3)


def test_negative_mix_rate_is_the_share_of_mixed_examples():
  b = 400
  rng = np.random.default_rng(10)
  batch = {"log_mel": jnp.asarray(rng.uniform(-40, 20, (b, 10, 4)), jnp.float32),
           "has_audio": jnp.ones((b,)), "label": jnp.asarray(np.arange(b) % 2, jnp.int32),
           "weight": jnp.ones((b,))}
  out = augment.negative_mix(jax.random.PRNGKey(11), batch["log_mel"], batch, 0.3, (0.0, 20.0))
  changed = (np.abs(np.asarray(out) - np.asarray(batch["log_mel"])) > 0).any(axis=(1, 2))
  assert 0.22 < changed.mean() < 0.38


def test_sound_level_ops_work_in_decibels_and_keep_labels_and_silence():
  batch = dict(_batch(), has_audio=jnp.asarray([1, 1, 1, 1, 1, 1, 1, 0], jnp.float32))
  batch["log_mel"] = batch["log_mel"] * batch["has_audio"][:, None, None]
  scale = augment.LogMelScale(mean=np.linspace(-50, 0, 16).astype(np.float32),
                              std=np.full(16, 12.0, np.float32))
  gain_only = augment.AugmentConfig(gain_db=6.0)
  out = augment.apply(jax.random.PRNGKey(12), batch, gain_only, 0.0, scale)
  shift_db = (np.asarray(out["log_mel"]) - np.asarray(batch["log_mel"])) * 12.0
  for i in range(7):   # one level change per example, the same in every band and frame
    assert np.ptp(shift_db[i]) < 1e-3 and abs(shift_db[i].flat[0]) <= 6.0
  assert not np.asarray(out["log_mel"])[7].any()
  np.testing.assert_array_equal(out["label"], batch["label"])
  tilted = augment.gain_and_tilt(jax.random.PRNGKey(13), jnp.zeros((2, 5, 16)), 0.0, 4.0)
  slope = np.diff(np.asarray(tilted), axis=-1)
  assert np.abs(np.asarray(tilted)).max() <= 2.0 + 1e-6 and np.ptp(slope[0]) < 1e-5
  with pytest.raises(ValueError, match="LogMelScale"):
    augment.apply(jax.random.PRNGKey(0), batch, gain_only, 0.0)


def test_augment_config_reads_configs_saved_before_the_sound_level_ops():
  old = {"spec_augment": True, "time_shift": False, "flip": False, "mixup_alpha": 0.0}
  config = augment.AugmentConfig.from_config(old)
  assert config.spec_augment and config.negative_mix == 0.0 and not config.needs_scale
  listed = augment.AugmentConfig.from_config(dict(old, negative_mix=0.5, negative_mix_snr_db=[1, 2]))
  assert listed.negative_mix_snr_db == (1.0, 2.0) and listed.needs_scale


def test_negative_warp_shifts_stretches_and_reverses_negatives_only():
  b, t, m = 64, 30, 20
  rows, bands = np.meshgrid(np.arange(t), np.arange(m), indexing="ij")
  db = jnp.asarray(np.broadcast_to(rows * 100 + bands, (b, t, m)), jnp.float32)
  batch = {"log_mel": db, "has_audio": jnp.ones((b,)), "weight": jnp.ones((b,)),
           "label": jnp.asarray(np.arange(b) % 2, jnp.int32)}
  out = np.asarray(augment.negative_warp(jax.random.PRNGKey(14), db, batch, 1.0, 3))
  np.testing.assert_array_equal(out, augment.negative_warp(jax.random.PRNGKey(14), db, batch, 1.0, 3))
  np.testing.assert_array_equal(out[1::2], np.asarray(db)[1::2])   # cries are never warped
  directions = set()
  for example in out[0::2]:
    src_row, src_band = np.divmod(example.astype(int), 100)
    assert (src_row == src_row[:, :1]).all()               # each frame is one frame of the input
    shift = src_band[0, 5] - 5                             # one band shift, within the limit
    assert abs(shift) <= 3 and (src_band[:, 5:15] == np.arange(5, 15) + shift).all()
    steps = np.diff(src_row[:, 0]) % t                     # forward (or backward) 0-2 frames a step
    forward = np.isin(steps, [0, 1, 2]).all()
    assert forward or np.isin((-np.diff(src_row[:, 0])) % t, [0, 1, 2]).all()
    directions.add(bool(forward))
  assert directions == {True, False}
  none = augment.negative_warp(jax.random.PRNGKey(14), db, batch, 0.0, 3)
  np.testing.assert_array_equal(none, db)
