"""On-device training augmentation, per modality, all off unless a config turns it on.

Runs inside the per-device train step, so each device draws its own random
stream. Shapes: log_mel [B, T, M], frames [B, F, H, W, C], has_* [B].

The sound-level ops (negative mixing, gain, tilt) work on the log-mel in decibels,
so they need the train split's per-band mean and std that normalised it
(`LogMelScale`); they change the log-mel only, not the MFCC statistics.
"""
from __future__ import annotations

import dataclasses
from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from babycry_jax.data import features, schema

_NEPER_PER_DB = np.log(10.0) / 10.0   # 10 log10(p) dB = ln(p) / _NEPER_PER_DB
_FLOOR_DB = float(10.0 * np.log10(features.POWER_FLOOR))   # the features' digital silence


@dataclasses.dataclass(frozen=True)
class AugmentConfig:
  spec_augment: bool = False   # two time masks (<= 10% of T) and two mel masks (<= 15% of M)
  time_shift: bool = False     # roll both modalities by the same random fraction of the window
  flip: bool = False           # horizontal flip of the frames, half of the time
  mixup_alpha: float = 0.0     # > 0: mix examples and their labels, weight ~ Beta(alpha, alpha)
  # Chance that an example gets a negative (non-cry) example of its batch added to its
  # sound, at an SNR drawn uniformly from negative_mix_snr_db; its label stays.
  negative_mix: float = 0.0
  negative_mix_snr_db: tuple[float, float] = (0.0, 20.0)
  gain_db: float = 0.0         # > 0: scale each example's level by a random +-gain_db
  tilt_db: float = 0.0         # > 0: a random spectral slope, +-tilt_db from lowest to top band
  # Chance that a negative is warped into another negative: shifted along the mel axis by up
  # to +-negative_warp_bands, stretched in time by 2**U(-1, 1) and reversed half of the time.
  negative_warp: float = 0.0
  negative_warp_bands: int = 16

  @classmethod
  def from_config(cls, config) -> "AugmentConfig":
    values = {f.name: config[f.name] for f in dataclasses.fields(cls) if f.name in config}
    if "negative_mix_snr_db" in values:
      values["negative_mix_snr_db"] = tuple(float(v) for v in values["negative_mix_snr_db"])
    return cls(**values)

  @property
  def needs_scale(self) -> bool:
    """Whether an op works in decibels and so needs the log-mel's LogMelScale."""
    return (self.negative_mix > 0 or self.gain_db > 0 or self.tilt_db > 0
            or self.negative_warp > 0)


class LogMelScale(NamedTuple):
  """The train split's log-mel normalisation: normalized = (dB - mean) / std, per mel band."""
  mean: np.ndarray
  std: np.ndarray


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

  return dict(batch, **{k: jax.vmap(roll)(batch[k], fraction)
                        for k in ("log_mel", "yamnet_log_mel", "frames") if k in batch})


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
  present = {"audio": has_audio, "video": has_video}
  hidden = {k: batch[k] * present[m].reshape((-1,) + (1,) * (batch[k].ndim - 1))
            for m, keys in schema.MODALITY_INPUTS.items() for k in keys
            if k in batch and k not in schema.PRESENCE.values()}
  return dict(batch, **hidden, has_audio=has_audio, has_video=has_video)


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


def _power_neper(log_mel_db: jnp.ndarray) -> jnp.ndarray:
  """[B] ln of each example's mean mel power (over time and bands), from its dB log-mel."""
  n = log_mel_db.shape[1] * log_mel_db.shape[2]
  return jax.nn.logsumexp(log_mel_db * _NEPER_PER_DB, axis=(1, 2)) - np.log(n)


def _hard_labels(batch: dict) -> jnp.ndarray:
  """[B] int labels, also of mixup's soft [B, 2] ones (the larger share)."""
  return batch["label"] if batch["label"].ndim == 1 else jnp.argmax(batch["label"], -1)


def mix_at_snr(log_mel_db: jnp.ndarray, partner_db: jnp.ndarray, snr_db: jnp.ndarray) -> jnp.ndarray:
  """Adds partner's mel power to each example's, scaled so that example / partner = snr_db.

  All [B, T, M] in dB (snr_db [B]); the powers of uncorrelated sounds add. Computed in
  log space, so neither very loud nor floor-level bands overflow.
  """
  log_gain = _power_neper(log_mel_db) - _power_neper(partner_db) - snr_db * _NEPER_PER_DB
  mixed = jnp.logaddexp(log_mel_db * _NEPER_PER_DB,
                        partner_db * _NEPER_PER_DB + log_gain[:, None, None])
  return mixed / _NEPER_PER_DB


def negative_mix(key, log_mel_db: jnp.ndarray, batch: dict, rate: float,
                 snr_db: tuple[float, float]) -> jnp.ndarray:
  """With probability `rate`, mixes a random negative of the batch into each audible example.

  Partners are examples with label 0 and audio; an example is never its own partner,
  and a batch without two such examples is left as it is. Labels stay: a cry with a
  non-cry sound behind it is still a cry, and two non-cry sounds are not one.
  """
  k1, k2, k3 = jax.random.split(key, 3)
  b = log_mel_db.shape[0]
  audible = (batch["has_audio"] > 0) & (batch["weight"] > 0)
  negative = audible & (_hard_labels(batch) == 0)
  candidates = negative[None, :] & ~jnp.eye(b, dtype=bool)
  partner = jax.random.categorical(k1, jnp.where(candidates, 0.0, -jnp.inf), axis=-1)
  mix = audible & candidates.any(-1) & jax.random.bernoulli(k2, rate, (b,))
  snr = jax.random.uniform(k3, (b,), minval=snr_db[0], maxval=snr_db[1])
  mixed = mix_at_snr(log_mel_db, log_mel_db[partner], snr)
  return jnp.where(mix[:, None, None], mixed, log_mel_db)


def negative_warp(key, log_mel_db: jnp.ndarray, batch: dict, rate: float,
                  max_bands: int) -> jnp.ndarray:
  """With probability `rate`, a negative becomes another sound no cry is like: moved up or
  down the mel axis, played faster or slower (looping, as padding does) and maybe backwards.
  Positives are never warped, so the crying class stays as narrow as the cries are."""
  k1, k2, k3, k4 = jax.random.split(key, 4)
  b, t, m = log_mel_db.shape
  warp = ((_hard_labels(batch) == 0) & (batch["has_audio"] > 0)
          & jax.random.bernoulli(k1, rate, (b,)))
  shift = jax.random.randint(k2, (b, 1), -max_bands, max_bands + 1)
  speed = 2.0 ** jax.random.uniform(k3, (b, 1), minval=-1.0, maxval=1.0)
  backwards = jax.random.bernoulli(k4, 0.5, (b, 1))
  frames = jnp.floor(jnp.arange(t)[None] * speed).astype(jnp.int32) % t
  frames = jnp.where(backwards, t - 1 - frames, frames)                  # [B, T]
  bands = jnp.clip(jnp.arange(m)[None] - shift, 0, m - 1)               # [B, M]
  warped = jax.vmap(lambda x, f, k: x[f][:, k])(log_mel_db, frames, bands)
  return jnp.where(warp[:, None, None], warped, log_mel_db)


def gain_and_tilt(key, log_mel_db: jnp.ndarray, gain_db: float, tilt_db: float) -> jnp.ndarray:
  """A random level change and a random linear slope over the mel bands, in dB.

  Stands in for the distance to the microphone and its frequency response; nothing
  goes below the features' floor, as a quieter recording would not.
  """
  k1, k2 = jax.random.split(key)
  b, _, m = log_mel_db.shape
  gain = jax.random.uniform(k1, (b, 1, 1), minval=-gain_db, maxval=gain_db)
  tilt = jax.random.uniform(k2, (b, 1, 1), minval=-tilt_db, maxval=tilt_db)
  return jnp.maximum(log_mel_db + gain + tilt * jnp.linspace(-0.5, 0.5, m), _FLOOR_DB)


def sound_level(key, batch: dict, config: AugmentConfig, scale: LogMelScale) -> dict:
  """The decibel ops, on the log-mel brought back to dB and normalised again after."""
  k1, k2 = jax.random.split(key)
  present = batch["has_audio"][:, None, None] > 0
  log_mel_db = batch["log_mel"] * scale.std + scale.mean
  if config.negative_mix > 0:
    log_mel_db = negative_mix(k1, log_mel_db, batch, config.negative_mix,
                              config.negative_mix_snr_db)
  if config.negative_warp > 0:
    # A key of its own, so configs without warping draw the same streams as before.
    log_mel_db = negative_warp(jax.random.fold_in(key, 3), log_mel_db, batch,
                               config.negative_warp, config.negative_warp_bands)
  if config.gain_db > 0 or config.tilt_db > 0:
    log_mel_db = gain_and_tilt(k2, log_mel_db, config.gain_db, config.tilt_db)
  log_mel = (log_mel_db - scale.mean) / scale.std
  # A missing track stays all zeros, as the decoder left it.
  return dict(batch, log_mel=jnp.where(present, log_mel, batch["log_mel"]))


def apply(key, batch: dict, config: AugmentConfig, modality_dropout_rate: float,
          scale: Optional[LogMelScale] = None) -> dict:
  keys = jax.random.split(key, 5)
  if config.needs_scale:
    if scale is None:
      raise ValueError("negative_mix, gain_db and tilt_db need the log-mel's LogMelScale")
    # A key of its own, so configs without these ops draw the same streams as before.
    batch = sound_level(jax.random.fold_in(key, 5), batch, config, scale)
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
