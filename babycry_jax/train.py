r"""Trains a model on a babycry dataset with pmapped steps over all devices of all hosts.

  python -m babycry_jax.train --config configs/default.py --workdir runs/default

Resumes by itself from the newest checkpoint in --workdir. On SIGTERM it saves
a checkpoint at the current step and exits. When the dataset is missing and
--config.dataset_dir is the embedded default's own path, the embedded default
is generated and preprocessed first; any other missing dataset is an error.
Exit status 0 when training ended, 1 on bad input, a diverged loss, a workdir
another trainer holds, or a full disk or unreachable bucket (the message names
the checkpoint a rerun resumes from).
"""
from __future__ import annotations

import os
import sys

import jax
from absl import app, flags
from jax.experimental import multihost_utils
from ml_collections import config_flags

from babycry_jax import console, models, trainer
from babycry_jax.data import schema, storage, unfinished_builds
from configs import default as config_fields
from preprocess import embedded_media

log = console.logger()

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", None, "Training config file (Python).", lock_config=True)
flags.DEFINE_string("workdir", None, "Directory for checkpoints, metrics and the saved config.")
flags.DEFINE_string("coordinator_address", None,
                    "host:port of process 0, for multi-host runs outside a TPU pod.")
flags.DEFINE_integer("num_processes", None, "Number of processes in a multi-host run.", lower_bound=1)
flags.DEFINE_integer("process_id", None, "This process's index in a multi-host run.", lower_bound=0)
flags.DEFINE_bool("distributed", False,
                  "Call jax.distributed.initialize() with auto-detection (TPU pods).")
flags.mark_flags_as_required(["config", "workdir"])


def initialize_distributed() -> None:
  if FLAGS.coordinator_address:
    if jax.config.jax_platforms in (None, "", "cpu"):
      jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator_address=FLAGS.coordinator_address,
                               num_processes=FLAGS.num_processes, process_id=FLAGS.process_id)
  elif FLAGS.distributed:
    jax.distributed.initialize()


def ensure_dataset(config) -> None:
  """Builds the embedded default where it belongs; any other missing dataset is an error (an
  unfinished build says so, and how to finish it)."""
  dataset_dir = config.dataset_dir
  if storage.exists(storage.join(storage.absolute(dataset_dir), schema.METADATA_FILE)):
    return
  if not embedded_media.is_default_dataset(dataset_dir):
    unfinished = unfinished_builds.describe(storage.absolute(dataset_dir))
    if unfinished:
      raise FileNotFoundError(unfinished)
    command = config.get("dataset_command") or f"python -m preprocess --input MEDIA --output {dataset_dir}"
    raise FileNotFoundError(
        f"no dataset at {storage.absolute(dataset_dir)} (no {schema.METADATA_FILE}); build it "
        f"with `{command}`")
  if jax.process_index() == 0:
    log.info("dataset %s is missing: generating the embedded default media (%d clips, seed %d) "
             "into %s, then running the Beam job", dataset_dir, embedded_media.NUM_CLIPS,
             embedded_media.SEED, embedded_media.MEDIA_DIR)
    embedded_media.build_dataset(dataset_dir)
  if jax.process_count() > 1:
    multihost_utils.sync_global_devices("embedded dataset built")


def check_flags(argv) -> None:
  """Every config field and flag, before any work: ValueError names what is wrong."""
  if len(argv) > 1:
    raise ValueError(f"unexpected arguments {argv[1:]}")
  config_fields.validate(FLAGS.config, models.names())
  if not storage.is_url(FLAGS.workdir) and os.path.isfile(FLAGS.workdir):
    raise ValueError(f"--workdir {FLAGS.workdir} is a file, not a directory")
  multi = (FLAGS.coordinator_address, FLAGS.num_processes, FLAGS.process_id)
  if any(v is not None for v in multi) and not all(v is not None for v in multi):
    raise ValueError("--coordinator_address, --num_processes and --process_id go together")
  if FLAGS.num_processes is not None and not 0 <= FLAGS.process_id < FLAGS.num_processes:
    raise ValueError(f"--process_id {FLAGS.process_id} must be in [0, --num_processes "
                     f"{FLAGS.num_processes})")


def main(argv):
  console.quiet_libraries()
  try:
    check_flags(argv)
  except ValueError as e:
    log.error("error: %s", e)
    sys.exit(1)
  initialize_distributed()
  try:
    ensure_dataset(FLAGS.config)
    trainer.train_and_evaluate(FLAGS.config, FLAGS.workdir)
  except (trainer.TrainingDiverged, trainer.WorkdirInUse, trainer.StorageFault,
          FileNotFoundError, ValueError) as e:
    log.error("%s", e)
    sys.exit(1)


if __name__ == "__main__":
  app.run(main, flags_parser=console.parse_flags)
