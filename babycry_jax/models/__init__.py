"""Model registry: every model is looked up by name, so adding one never edits the trainer.

A model is a `flax.linen.Module` called as
  `model.apply(variables, batch, train=bool, rngs={'dropout': key}, mutable=[...])`
where `batch` holds (float32 unless noted, B = examples on this device):
  log_mel     [B, audio_frames, n_mels]  normalized log-mel (dB) frames
  mfcc_stats  [B, 78]                    normalized MFCC mean/variance stats
  frames      [B, video_frames, H, W, C] normalized video frames
  has_audio, has_video  [B]              1.0 where the track is present
and it returns logits [B, 2] (index 1 = crying). Class attribute `modalities`
names the inputs it reads: a subset of ("audio", "video"). Models with BatchNorm
take `bn_axis_name`, the device axis of the parallel strategy that runs them.
"""
from __future__ import annotations

from typing import Callable

import flax.linen as nn

_REGISTRY: dict[str, type[nn.Module]] = {}


def register(name: str) -> Callable[[type[nn.Module]], type[nn.Module]]:
  def wrap(cls):
    if name in _REGISTRY:
      raise ValueError(f"model {name!r} registered twice")
    _REGISTRY[name] = cls
    return cls
  return wrap


def _load_all() -> None:
  # Importing the family modules fills the registry.
  import importlib
  import pkgutil
  for info in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{info.name}")


def names() -> list[str]:
  _load_all()
  return sorted(_REGISTRY)


def get(name: str) -> type[nn.Module]:
  _load_all()
  if name not in _REGISTRY:
    raise ValueError(f"unknown model {name!r}; registered models: {', '.join(sorted(_REGISTRY))}")
  return _REGISTRY[name]


def create(name: str, *, bn_axis_name: str | None = None, **kwargs) -> nn.Module:
  """The model `name`; models with BatchNorm average its statistics over `bn_axis_name`."""
  cls = get(name)
  if "bn_axis_name" in cls.__dataclass_fields__:
    kwargs["bn_axis_name"] = bn_axis_name
  return cls(**kwargs)
