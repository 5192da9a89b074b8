"""The jobs of the reproduction report: the study's models, each a training run with its config."""
from __future__ import annotations

import dataclasses
import importlib.util
import inspect
import os
import pathlib
from typing import Any, Optional, Sequence

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
EMBEDDED = "embedded_default"
REAL_AUDIO = "real_audio"


@dataclasses.dataclass(frozen=True)
class StudyModel:
  """A model of the comparison: registry name, the study's name and its reported F1."""
  name: str
  label: str
  study_val_f1: Optional[str]   # None: the study gives no number (or did not have it)


STUDY_MODELS = (
    StudyModel("svm", "SVM", "0.845"),
    StudyModel("cnn2", "CNN2", None),
    StudyModel("cnn4", "CNN4", None),
    StudyModel("cnn6", "CNN6", "0.83–0.87"),
    StudyModel("lstm", "LSTM", "0.85"),
    StudyModel("c3d", "3DCNN", "0.82"),
    StudyModel("fusion_cnn_cnn_fc", "CNN+CNN+FC", "0.87"),
    StudyModel("fusion_cnn_3dcnn_fc", "CNN+3DCNN+FC", "0.89"),
    StudyModel("fusion_cnn_cnn_lstm", "CNN+CNN+LSTM", "0.895"),
    StudyModel("fusion_cnn_3dcnn_lstm", "CNN+3DCNN+LSTM", "0.905"),
    StudyModel("fusion_bottleneck", "Bottleneck fusion (ours)", None),
    StudyModel("cnn_pool", "CNN + attention pooling (ours)", None),
    StudyModel("fusion_pool_3dcnn", "CNN + attention pooling + 3DCNN (ours)", None),
    StudyModel("yamnet_cry", "YAMNet fine-tuned (ours)", None),
    StudyModel("fusion_yamnet_3dcnn", "YAMNet + 3DCNN (ours)", None),
)
BY_NAME = {m.name: m for m in STUDY_MODELS}
# Audio models trained on the real-audio dataset; the LSTM through the recipe's own config.
REAL_AUDIO_CONFIGS = {"svm": "configs/svm.py", "cnn6": "configs/cnn6.py",
                      "lstm": "configs/real_audio.py"}


@dataclasses.dataclass(frozen=True)
class Job:
  """One training run of the report.

  Attributes:
    name: row name, unique within its dataset (also the workdir's name).
    label: the model's name in the table.
    config_path: a config file (relative to the repo root or absolute).
    dataset: EMBEDDED or REAL_AUDIO, the table the row goes to.
    overrides: config fields set after get_config() (dataset_dir, num_epochs, ...).
    study_val_f1: the study's reported validation F1, as text.
  """
  name: str
  label: str
  config_path: str
  dataset: str
  overrides: tuple[tuple[str, Any], ...] = ()
  study_val_f1: Optional[str] = None


def _overrides(dataset_dir: str, epochs: Optional[int]) -> tuple[tuple[str, Any], ...]:
  overrides: list[tuple[str, Any]] = [("dataset_dir", os.path.abspath(dataset_dir))]
  if epochs:
    overrides.append(("num_epochs", epochs))
  return tuple(overrides)


def check_models(models: Optional[Sequence[str]]) -> None:
  """Raises ValueError naming any of `models` that is not a study model."""
  unknown = [n for n in models or () if n not in BY_NAME]
  if unknown:
    raise ValueError(f"unknown model(s) {unknown}; choose from {', '.join(BY_NAME)}")


def study_jobs(dataset_dir: str, models: Optional[Sequence[str]] = None,
               epochs: Optional[int] = None) -> list[Job]:
  """The study's models (all, or `models`, in study order) on the embedded default."""
  names = [m.name for m in STUDY_MODELS] if models is None else list(models)
  check_models(names)
  overrides = _overrides(dataset_dir, epochs)
  return [Job(n, BY_NAME[n].label, f"configs/{n}.py", EMBEDDED, overrides,
              BY_NAME[n].study_val_f1) for n in names]


def real_audio_models(models: Optional[Sequence[str]] = None) -> list[str]:
  """The audio models of the real-audio table (those of `models` that have one)."""
  return [n for n in REAL_AUDIO_CONFIGS if models is None or n in models]


def real_audio_jobs(dataset_dir: str, models: Optional[Sequence[str]] = None,
                    epochs: Optional[int] = None) -> list[Job]:
  """The audio models on the real-audio dataset (those of `models` that have one)."""
  overrides = _overrides(dataset_dir, epochs)
  return [Job(n, BY_NAME[n].label, REAL_AUDIO_CONFIGS[n], REAL_AUDIO, overrides,
              BY_NAME[n].study_val_f1) for n in real_audio_models(models)]


def load_config(job: Job):
  """The job's ConfigDict: the file's get_config() (with the dataset dir when it takes one) + overrides."""
  path = pathlib.Path(job.config_path)
  path = path if path.is_absolute() else REPO_ROOT / path
  if not path.exists():
    raise FileNotFoundError(f"config {path} of {job.name} does not exist")
  spec = importlib.util.spec_from_file_location(f"reproduce_config_{job.dataset}_{job.name}", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  overrides = dict(job.overrides)
  if "dataset_dir" in overrides and inspect.signature(module.get_config).parameters:
    config = module.get_config(overrides["dataset_dir"])
  else:
    config = module.get_config()
  for key, value in job.overrides:
    target = config
    *parents, leaf = key.split(".")
    for parent in parents:
      target = target[parent]
    target[leaf] = value
  return config
