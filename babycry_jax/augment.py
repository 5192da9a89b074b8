"""On-device training augmentation, per modality, all off unless a config turns it on.

Runs inside the per-device train step, so each device draws its own random
stream. Shapes: log_mel [B, T, M], frames [B, F, H, W, C], has_* [B].
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp


@dataclasses.dataclass(frozen=True)
class AugmentConfig:
  spec_augment: bool = False   # two time masks (<= 10% of T) and two mel masks (<= 15% of M)
  time_shift: bool = False     # roll both modalities by the same random fraction of the window
  flip: bool = False           # horizontal flip of the frames, half of the time
  mixup_alpha: float = 0.0     # > 0: mix examples and their labels, weight ~ Beta(alpha, alpha)

  @classmethod
  def from_config(cls, config) -> "AugmentConfig":
    return cls(**{f.name: config[f.name] for f in dataclasses.fields(cls)})


def _band_mask(key, length: int, max_width: int, batch: int) -> jnp.ndarray:
  """[B, length] bool, True inside one random band of width < max_width per example."""
  k1, k2 = jax.random.split(key)
  width = jax.random.randint(k1, (batch, 1), 0, max(max_width, 1))
  start = jax.random.randint(k2, (batch, 1), 0, length)
  pos = jnp.arange(length)[None]
  return (pos >= start) & (pos < start + width)


def spec_augment(key, log_mel: jnp.ndarray) -> jnp.ndarray:
  b, t, m = log_mel.shape
  keys = jax.random.split(key, 4)
  time_mask = _band_mask(keys[0], t, t // 10, b) | _band_mask(keys[1], t, t // 10, b)
  mel_mask = _band_mask(keys[2], m, m * 15 // 100, b) | _band_mask(keys[3], m, m * 15 // 100, b)
  # Normalized features: 0 is the dataset mean, the neutral fill.
  return jnp.where(time_mask[:, :, None] | mel_mask[:, None, :], 0.0, log_mel)


def time_shift(key, batch: dict) -> dict:
  """Rolls audio and video by the same fraction of the window, keeping them aligned."""
  b = batch["log_mel"].shape[0]
  fraction = jax.random.uniform(key, (b,), minval=-0.25, maxval=0.25)

  def roll(x, frac):
    return jnp.roll(x, jnp.round(frac * x.shape[0]).astype(jnp.int32), axis=0)

  return dict(batch, log_mel=jax.vmap(roll)(batch["log_mel"], fraction),
              frames=jax.vmap(roll)(batch["frames"], fraction))


def modality_dropout(key, batch: dict, rate: float) -> dict:
  """With probability `rate`, hide one modality (audio or video, equally likely) of an example.

  Only an example that has both tracks loses one, so no example is left empty.
  """
  k1, k2 = jax.random.split(key)
  b = batch["has_audio"].shape[0]
  both = (batch["has_audio"] > 0) & (batch["has_video"] > 0)
  drop = jax.random.bernoulli(k1, rate, (b,)) & both
  drop_audio = drop & jax.random.bernoulli(k2, 0.5, (b,))
  drop_video = drop & ~drop_audio
  has_audio = jnp.where(drop_audio, 0.0, batch["has_audio"])
  has_video = jnp.where(drop_video, 0.0, batch["has_video"])
  return dict(batch, has_audio=has_audio, has_video=has_video,
              log_mel=batch["log_mel"] * has_audio[:, None, None],
              mfcc_stats=batch["mfcc_stats"] * has_audio[:, None],
              frames=batch["frames"] * has_video[:, None, None, None, None])


def mixup(key, batch: dict, alpha: float) -> dict:
  """Mixes each example with a partner from the same device batch; labels become soft [B, 2]."""
  k1, k2 = jax.random.split(key)
  b = batch["label"].shape[0]
  lam = jax.random.beta(k1, alpha, alpha, (b,))
  partner = jax.random.permutation(k2, b)
  labels = jax.nn.one_hot(batch["label"], 2) if batch["label"].ndim == 1 else batch["label"]
  mixed = dict(batch)
  for name in ("log_mel", "mfcc_stats", "frames"):
    x = batch[name]
    w = lam.reshape((b,) + (1,) * (x.ndim - 1))
    mixed[name] = w * x + (1 - w) * x[partner]
  mixed["label"] = lam[:, None] * labels + (1 - lam[:, None]) * labels[partner]
  mixed["has_audio"] = jnp.maximum(batch["has_audio"], batch["has_audio"][partner])
  mixed["has_video"] = jnp.maximum(batch["has_video"], batch["has_video"][partner])
  return mixed


def apply(key, batch: dict, config: AugmentConfig, modality_dropout_rate: float) -> dict:
  keys = jax.random.split(key, 5)
  if config.time_shift:
    batch = time_shift(keys[0], batch)
  if config.spec_augment:
    batch = dict(batch, log_mel=spec_augment(keys[1], batch["log_mel"]))
  if config.flip:
    flip = jax.random.bernoulli(keys[2], 0.5, (batch["frames"].shape[0],))
    batch = dict(batch, frames=jnp.where(flip[:, None, None, None, None],
                                         batch["frames"][:, :, :, ::-1], batch["frames"]))
  if modality_dropout_rate > 0:
    batch = modality_dropout(keys[3], batch, modality_dropout_rate)
  if config.mixup_alpha > 0:
    batch = mixup(keys[4], batch, config.mixup_alpha)
  return batch
