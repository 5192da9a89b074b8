"""The optax optimizer and learning-rate schedule a config asks for."""
from __future__ import annotations

from typing import Any, Callable

import jax
import ml_collections
import optax
from optax import contrib


def learning_rate_schedule(config: ml_collections.ConfigDict, steps_per_epoch: int) -> optax.Schedule:
  """constant | cosine, both after an optional linear warmup (in epochs)."""
  warmup_steps = int(config.warmup_epochs * steps_per_epoch)
  total_steps = max(int(config.num_epochs * steps_per_epoch), warmup_steps + 1)
  if config.lr_schedule in ("constant", "plateau"):
    main = optax.constant_schedule(config.learning_rate)
  elif config.lr_schedule == "cosine":
    main = optax.cosine_decay_schedule(config.learning_rate, total_steps - warmup_steps)
  else:
    raise ValueError(f"unknown lr_schedule {config.lr_schedule!r}; choose constant, cosine or plateau")
  if warmup_steps == 0:
    return main
  warmup = optax.linear_schedule(0.0, config.learning_rate, warmup_steps)
  return optax.join_schedules([warmup, main], [warmup_steps])


def create(config: ml_collections.ConfigDict, steps_per_epoch: int,
           frozen: Callable[[Any], Any] | None = None) -> optax.GradientTransformation:
  """Clipping -> optimizer -> (plateau scaling) -> gradient accumulation, per parameter group.

  `frozen(params)` (a model's frozen_params) marks parameters that are never trained:
  they get no update and no weight decay, and no optimizer state. A parameter under a
  top-level name in config.learning_rate_scales is trained at that multiple of the
  learning rate (0 freezes it too).
  """
  scales = dict(config.get("learning_rate_scales", {}))

  def group(path, is_frozen) -> str:
    scale = scales.get(path[0].key, 1.0)
    return _FROZEN if is_frozen or scale == 0 else ("" if scale == 1.0 else path[0].key)

  def labels(params):
    marks = frozen(params) if frozen is not None else jax.tree.map(lambda _: False, params)
    return jax.tree_util.tree_map_with_path(group, marks)

  transforms = {_FROZEN: optax.set_to_zero(), "": _optimizer(config, steps_per_epoch)}
  for name, scale in scales.items():
    if scale not in (0, 1.0):
      transforms[name] = optax.chain(_optimizer(config, steps_per_epoch), optax.scale(scale))
  if frozen is None and len(transforms) == 2:
    return transforms[""]
  return optax.multi_transform(transforms, labels)


_FROZEN = "frozen"


def _optimizer(config: ml_collections.ConfigDict, steps_per_epoch: int) -> optax.GradientTransformation:
  lr = learning_rate_schedule(config, steps_per_epoch)
  name = config.optimizer
  if name == "adam":
    opt = optax.adam(lr)
  elif name == "adamw":
    opt = optax.adamw(lr, weight_decay=config.weight_decay)
  elif name == "rmsprop":
    opt = optax.rmsprop(lr)
  elif name == "sgd":
    opt = optax.sgd(lr, momentum=0.9)
  else:
    raise ValueError(f"unknown optimizer {name!r}; choose adam, adamw, rmsprop or sgd")
  chain = []
  if config.grad_clip_norm > 0:
    chain.append(optax.clip_by_global_norm(config.grad_clip_norm))
  l2 = 0.0 if name == "adamw" else config.weight_decay
  if config.get("svm_c", 0.0) > 0:  # runs saved before the field existed lack it
    # A linear SVM minimises |w|^2 / 2 + C * sum(hinge); divided by C * N that is
    # the mean hinge loss plus |w|^2 / (2 C N), whose gradient is w / (C N).
    l2 += 1.0 / (config.svm_c * steps_per_epoch * config.batch_size)
  if l2 > 0:
    chain.append(optax.add_decayed_weights(l2))
  chain.append(opt)
  if config.lr_schedule == "plateau":
    # The study's schedule: scale the step down when the loss stops improving
    # over an epoch's worth of steps (the update is given the loss as `value`).
    chain.append(contrib.reduce_on_plateau(
        factor=0.5, patience=2, accumulation_size=max(steps_per_epoch, 1)))
  tx = optax.chain(*chain)
  if config.grad_accum_steps > 1:
    tx = optax.MultiSteps(tx, every_k_schedule=config.grad_accum_steps)
  return tx
