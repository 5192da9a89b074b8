"""Augmentation: each op does what it says, and only that."""
import jax
import jax.numpy as jnp
import numpy as np

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
