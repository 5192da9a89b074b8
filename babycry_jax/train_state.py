"""The model a config names and its train state, created the same way for every caller."""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax.training import train_state

from babycry_jax import models, optimizers
from babycry_jax.data import schema
from babycry_jax.models.batch_inputs import example_batch


class TrainState(train_state.TrainState):
  batch_stats: Any = None
  rng: jax.Array = None  # base key; the step and device index are folded in


def create_model(config: ml_collections.ConfigDict, bn_axis_name: str | None = None):
  """The config's model; BatchNorm averages statistics over `bn_axis_name` (None: per device)."""
  dtype = jnp.bfloat16 if config.half_precision else jnp.float32
  return models.create(config.model, dtype=dtype, bn_axis_name=bn_axis_name,
                       **config.model_kwargs.to_dict())


def example_inputs(spec: schema.FeatureSpec, config: ml_collections.ConfigDict) -> dict:
  """A zero batch of one example with the model-input shapes, for shape inference."""
  return example_batch(1, audio_frames=config.audio_frames, n_mels=spec.n_mels,
                       mfcc_dim=spec.mfcc_stats_dim, video_frames=config.video_frames,
                       frame_size=spec.frame_size, channels=spec.channels,
                       yamnet_frames=spec.yamnet_frames)


def _initializer(config: ml_collections.ConfigDict, model, spec: schema.FeatureSpec,
                 steps_per_epoch: int):
  """(the optimizer, a function seed -> (variables, optimizer state, train key))."""
  tx = optimizers.create(config, steps_per_epoch, getattr(model, "frozen_params", None))
  # Initialised without a device axis (train=False reads BatchNorm's running
  # averages), so one compiled call makes the state on the host.
  init_model = model.clone(bn_axis_name=None) if hasattr(model, "bn_axis_name") else model

  def init(seed):
    init_key, dropout_key, train_key = jax.random.split(jax.random.PRNGKey(seed), 3)
    variables = init_model.init({"params": init_key, "dropout": dropout_key},
                                example_inputs(spec, config), train=False)
    return variables, tx.init(variables["params"]), train_key
  return tx, init


def _train_state(model, tx, variables, opt_state, train_key, step) -> TrainState:
  return TrainState(step=step, apply_fn=model.apply, params=variables["params"], tx=tx,
                    opt_state=opt_state, batch_stats=variables.get("batch_stats"), rng=train_key)


def create_train_state(config: ml_collections.ConfigDict, model, spec: schema.FeatureSpec,
                       steps_per_epoch: int) -> TrainState:
  """Fresh state on the host, deterministic in config.seed."""
  tx, init = _initializer(config, model, spec, steps_per_epoch)
  variables, opt_state, train_key = jax.tree.map(
      lambda x: np.array(np.asarray(x)), jax.jit(init)(np.uint32(config.seed)))
  return _train_state(model, tx, variables, opt_state, train_key, np.zeros((), np.int32))


def abstract_train_state(config: ml_collections.ConfigDict, model,
                         spec: schema.FeatureSpec) -> TrainState:
  """The train state's structure, shapes and dtypes (jax.ShapeDtypeStruct leaves), computed
  without running or compiling anything: the target a checkpoint is restored into."""
  tx, init = _initializer(config, model, spec, steps_per_epoch=1)
  variables, opt_state, train_key = jax.eval_shape(init, np.uint32(config.seed))
  return _train_state(model, tx, variables, opt_state, train_key,
                      jax.ShapeDtypeStruct((), np.int32))
