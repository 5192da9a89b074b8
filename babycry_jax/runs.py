"""A training run on disk: the config saved in its workdir, its checkpoints, and loading one."""
from __future__ import annotations

import dataclasses
import json
from typing import Any

import ml_collections

from babycry_jax.data import schema, storage
from babycry_jax.train_state import TrainState, abstract_train_state, create_model

CONFIG_FILE = "config.json"


def write_config(workdir: str, config: ml_collections.ConfigDict) -> None:
  storage.makedirs(workdir)
  storage.write_text(storage.join(workdir, CONFIG_FILE), config.to_json_best_effort(indent=2))


def read_config(workdir: str) -> ml_collections.ConfigDict:
  """The config a training run saved in its workdir."""
  config_path = storage.join(workdir, CONFIG_FILE)
  if not storage.exists(config_path):
    raise FileNotFoundError(f"{workdir} has no {CONFIG_FILE}: is it a training workdir?")
  return ml_collections.ConfigDict(json.loads(storage.read_text(config_path)))


def resolve_step(workdir: str, checkpoint: str = "best") -> int:
  """The step that `checkpoint` ('best' | 'latest' | a step number) names in a workdir.

  Raises checkpointing.DamagedCheckpoint (a ValueError) when that step's files
  are not what was written: a damaged checkpoint is never read silently.
  """
  from babycry_jax import checkpointing   # Orbax: a shipped model starts without it
  read_config(workdir)
  ckpt = checkpointing.Checkpointer(workdir, read_only=True)
  try:
    return ckpt.checked(ckpt.resolve(checkpoint))
  finally:
    ckpt.close()


@dataclasses.dataclass
class Run:
  """A trained run loaded from its workdir: config, model and one checkpoint's state."""
  config: ml_collections.ConfigDict
  model: Any
  state: TrainState
  step: int
  spec: schema.FeatureSpec
  metadata: dict

  @property
  def modalities(self) -> tuple[str, ...]:
    """The tracks the model reads: a subset of ("audio", "video")."""
    return tuple(getattr(type(self.model), "modalities", ("audio", "video")))


def load_run(workdir: str, checkpoint: str = "best") -> Run:
  """Restores one checkpoint of a training workdir with the config saved there (checked as in
  resolve_step)."""
  config = read_config(workdir)
  metadata = schema.read_metadata(config.dataset_dir)
  spec = schema.FeatureSpec.from_json(metadata["feature_spec"])
  model = create_model(config)
  template = abstract_train_state(config, model, spec)
  from babycry_jax import checkpointing   # Orbax: a shipped model starts without it
  ckpt = checkpointing.Checkpointer(workdir, read_only=True)
  try:
    step = ckpt.checked(ckpt.resolve(checkpoint))
    state, _ = ckpt.restore(step, template)
  finally:
    ckpt.close()
  return Run(config, model, state, step, spec, metadata)
