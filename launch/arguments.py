"""The option groups several subcommands share: what to create, the Python on the workers,
waiting for a queued resource, and what to train."""
from __future__ import annotations

import argparse
import os
import re

from launch import accelerators, options, remote, workers
from launch.errors import UsageError
from launch.provision import TpuSpec, Waiting

_OVERRIDE_RE = re.compile(r"^--config\.[A-Za-z_][A-Za-z0-9_.]*=")


def add_tpu_spec(parser: argparse.ArgumentParser) -> None:
  group = parser.add_argument_group("what to create")
  group.add_argument("--accelerator_type", default=os.environ.get("BABYCRY_TPU_ACCELERATOR_TYPE", ""),
                     metavar="TYPE", help="e.g. v4-8, v4-32, v5litepod-16, v5p-8, v6e-8 "
                     "(BABYCRY_TPU_ACCELERATOR_TYPE)")
  group.add_argument("--version", default=os.environ.get("BABYCRY_TPU_VERSION", ""),
                     help="TPU software version (runtime); default by generation: v2, v3, v4 "
                     "tpu-ubuntu2204-base, v5e v2-alpha-tpuv5-lite, v5p v2-alpha-tpuv5, v6e "
                     "v2-alpha-tpuv6e; one of another generation is refused (BABYCRY_TPU_VERSION)")
  group.add_argument("--any_version", action="store_true",
                     help="accept a --version launch.sh does not know (a newer image)")
  group.add_argument("--spot", action="store_true",
                     help="Spot capacity: much cheaper, but Google may preempt it at any time")
  group.add_argument("--queued", action="store_true",
                     help="create through a queued resource (named like its node, so every "
                     "subcommand addresses it by --name) and wait until it is ACTIVE")


def tpu_spec(args: argparse.Namespace) -> TpuSpec:
  if not args.accelerator_type:
    raise UsageError("missing --accelerator_type (or BABYCRY_TPU_ACCELERATOR_TYPE)")
  version = accelerators.runtime_for(args.accelerator_type, args.version, args.any_version)
  return TpuSpec(args.accelerator_type, version, args.spot, args.queued)


def add_waiting(parser: argparse.ArgumentParser) -> None:
  group = parser.add_argument_group("waiting for a queued resource")
  group.add_argument("--queue_timeout_min", type=options.non_negative_number, default=360.0,
                     metavar="MIN", help="give up waiting for ACTIVE after this many minutes "
                     "(default 360; 0: no limit); the request stays queued")
  group.add_argument("--poll_s", type=options.positive_number, default=None, metavar="S",
                     help="seconds between looks at the queued resource (default 30) and, "
                     "in run, at the training (default 60)")


def waiting(args: argparse.Namespace, poll_s_default: float = 30.0) -> Waiting:
  return Waiting(args.queue_timeout_min, args.poll_s or poll_s_default)


def add_python(parser: argparse.ArgumentParser) -> None:
  parser.add_argument(
      "--python", default=os.environ.get("BABYCRY_TPU_PYTHON", remote.DEFAULT_PYTHON),
      help=f"the Python of the workers' venv: a version (default {remote.DEFAULT_PYTHON}) is a "
      f"standalone CPython that uv {remote.UV_VERSION} installs, whatever the image has; a "
      f"command or path (python3.12) is an interpreter already there. It must be "
      f"{remote.MIN_PYTHON} or newer (BABYCRY_TPU_PYTHON)")


TRAINING_EPILOG = """\
Config overrides (--config.FIELD=VALUE, e.g. --config.num_epochs=50) go to the trainer
unchanged, and so does anything after '--'."""


def add_training(parser: argparse.ArgumentParser) -> None:
  group = parser.add_argument_group("what to train (as python -m babycry_jax.train)")
  group.add_argument("--config", default="",
                     help="config file, relative to the repository root (configs/X.py)")
  group.add_argument("--workdir", default="",
                     help="checkpoints and metrics; on a multi-host slice, and for run, a "
                     "gs:// URL, so every worker (and a re-created VM) sees the same one")
  group.add_argument("--dataset_dir", default="",
                     help="shorthand for --config.dataset_dir=DIR (may be gs://...)")
  group.add_argument("--env", action="append", default=[], type=options.env_assignment,
                     metavar="KEY=VALUE", help="environment variable for the trainer (repeatable)")


def training(args: argparse.Namespace, extra: list, passthrough: list) -> tuple:
  """(trainer arguments, --env assignments) of the add_training options; `extra` holds the
  words argparse did not know (config overrides) and `passthrough` those after '--'."""
  if not args.config:
    raise UsageError("missing --config")
  if not args.workdir:
    raise UsageError("missing --workdir")
  overrides = config_overrides(extra)
  if args.dataset_dir:
    overrides.insert(0, f"--config.dataset_dir={args.dataset_dir}")
  return workers.trainer_args(args.config, args.workdir, overrides, passthrough), list(args.env)


def config_overrides(extra: list) -> list:
  """`extra` when every word is a --config.FIELD=VALUE override; UsageError otherwise."""
  for word in extra:
    if not _OVERRIDE_RE.match(word):
      if word.startswith("--config."):
        raise UsageError(f"write config overrides as {word}=VALUE")
      raise UsageError(f"unknown option '{word}'")
  return list(extra)


def no_extra(extra: list) -> None:
  if extra:
    raise UsageError(f"unknown option '{extra[0]}'")
