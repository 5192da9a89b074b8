"""launch.sh's entry point: global options, the subcommand table, and how failures end."""
from __future__ import annotations

import pathlib
import sys

from launch import arguments, commands, local
from launch.commands import Command, Context
from launch.errors import LaunchError, UsageError
from launch.options import Parser

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
MAIN_USAGE = "usage: launch.sh [--dry-run] SUBCOMMAND [OPTIONS]"

_TPU_HELP = "docs/tpu.md walks through a first run on v4, v5e and v6e."

COMMANDS = {
    "create": Command(
        "create the TPU VM (directly, or through a queued resource it waits for)",
        "Create a TPU VM, or with --queued a queued resource whose single node is called NAME,\n"
        "and wait until it is ACTIVE (progress every state change; a clear error when it is\n"
        "FAILED or SUSPENDED). Running it again while the request is queued waits again.",
        commands.configure_create, commands.create),
    "setup": Command(
        "copy this source tree to every worker and install it with jax[tpu]",
        "Copy the files git would commit (uncommitted edits included; without git: the tree\n"
        "minus caches, .venv, data/ and runs/) to ~/babycry_jax on every worker, make sure a\n"
        "Python the pinned stack supports is there (uv installs a standalone CPython; the\n"
        "images' python3 is 3.10), and install the project with the jax[tpu] pinned in\n"
        "setup.py into ~/babycry_jax_venv. The venv is rebuilt when its interpreter, the jax\n"
        "pin or setup.py changed, else only the project is installed again. Each worker says\n"
        "what it installed. Run it again after changing the code.",
        commands.configure_setup, commands.setup),
    "doctor": Command(
        "check every worker: Python, jax, libtpu, the devices JAX sees, a writable bucket",
        "Run python -m babycry_jax.doctor on every worker at once (after setup, before\n"
        "training); refused while training runs. Exit status 1 when any check failed.\n"
        "Anything after '--' goes to the doctor.",
        commands.configure_doctor, commands.doctor, passthrough=True),
    "train": Command(
        "start training on every worker in the background (nohup, log per worker)",
        "Start 'python -m babycry_jax.train --distributed' on every worker at once, in the\n"
        "background (setsid + nohup), so it survives the ssh session. Each worker appends to\n"
        "~/babycry_jax_logs/train.log and records the process group in train.pid and how it\n"
        "ended in train.exit; a worker where training still runs refuses a second one.",
        commands.configure_train, commands.train, overrides=True, passthrough=True),
    "run": Command(
        "unattended: create, set up, train, and re-create and resume after a preemption",
        "Create the TPU VM (or adopt the one there), set it up, start training and watch it\n"
        "every --poll_s seconds (default 60). When the VM is preempted or lost, a worker's\n"
        "trainer dies or workers stop answering, delete and re-create the VM where needed,\n"
        "set it up again and start training again, which resumes from the newest checkpoint\n"
        "in --workdir; at most --max_retries times. Ends with exit status 0 when training\n"
        "finished on every worker, 1 when the trainer itself failed on every worker (a bad\n"
        "config, a diverged loss: a retry would fail alike), when 'launch.sh stop' stopped it,\n"
        "or when the retries are spent. Ctrl-C stops watching, not training: run the same\n"
        "command again to watch it again. Every step is logged with a timestamp on stderr.\n"
        "Use a gs:// --workdir and --dataset_dir, and --config.checkpoint_every_minutes so\n"
        "that a lost VM costs at most that much training.",
        commands.configure_run, commands.run, overrides=True, passthrough=True),
    "status": Command(
        "show the TPU VM's state and how training stands on each worker",
        "Print the TPU VM's state, type, workers and runtime, and each worker's training\n"
        "status: running, finished, failed N, terminated (SIGTERM: preemption, maintenance),\n"
        "stopped, lost (gone without an exit status) or absent (never started there).",
        commands.configure_status, commands.status),
    "logs": Command(
        "follow the training log of one worker (worker 0 by default)",
        "Follow (tail -F) the training log of one worker. Ctrl-C stops following, not training.",
        commands.configure_logs, commands.logs),
    "eval": Command(
        "evaluate a checkpoint on one worker (JAX on CPU on a multi-host slice)",
        "Run 'python -m babycry_jax.evaluate' on one worker and wait for it; refused while\n"
        "training runs on the slice. On a multi-host slice (v4-16 and up, v5litepod-16 and up,\n"
        "v6e-16 and up) one host cannot use the slice's TPU alone, so JAX runs on that host's\n"
        "CPU (JAX_PLATFORMS=cpu) unless --env JAX_PLATFORMS=... says otherwise. Anything after\n"
        "'--' goes to the evaluator.",
        commands.configure_eval, commands.evaluate, passthrough=True),
    "stop": Command(
        "stop the training processes on every worker",
        "On every worker, send SIGTERM to the training process group (the trainer saves a\n"
        "checkpoint and exits), wait up to --grace_s seconds, then SIGKILL what is left.",
        commands.configure_stop, commands.stop),
    "delete": Command(
        "delete the TPU VM (or the queued resource)",
        "Delete the TPU VM, or with --queued the queued resource NAME together with its node.\n"
        "A TPU VM bills from creation to deletion, idle or not.",
        commands.configure_delete, commands.delete),
}

MAIN_HELP = MAIN_USAGE + """

Run babycry_jax on a Cloud TPU VM (all workers of a pod slice) or locally.

TPU subcommands:
""" + "".join(f"  {name:<8}  {c.summary}\n" for name, c in COMMANDS.items()) + """\
Local:
  local     run train | preprocess | eval | detect (or any command) on this machine

Global options:
  --dry-run   print the commands that change something, each shell-quoted, instead of
              running them (read-only queries such as describe still run)
  -h, --help  show this help; 'launch.sh SUBCOMMAND --help' shows a subcommand's options

Environment:
  GCLOUD                        gcloud binary (default: gcloud on PATH)
  BABYCRY_TPU_NAME              default for --name
  BABYCRY_TPU_ZONE              default for --zone
  BABYCRY_TPU_PROJECT           default for --project (else gcloud's configured project)
  BABYCRY_TPU_ACCELERATOR_TYPE  default for --accelerator_type
  BABYCRY_TPU_VERSION           default for --version (else the generation's runtime)
  BABYCRY_TPU_PYTHON            default for setup --python (3.11: CPython from uv)
  BABYCRY_TPU_CREATE_FLAGS      gcloud flags for every create, e.g. '--internal-ips --network=N'
  BABYCRY_TPU_SSH_FLAGS         gcloud flags for every ssh/scp, e.g. '--internal-ip'
  BABYCRY_LAUNCH_PYTHON         Python that runs launch.sh itself (default python3; 3.9+)
  PYTHON                        Python for 'local' (default: python, else python3)

Typical run (v4-32):
  export BABYCRY_TPU_NAME=cry BABYCRY_TPU_ZONE=us-central2-b
  launch.sh create --accelerator_type v4-32 --spot
  launch.sh setup
  launch.sh doctor --workdir gs://BUCKET/runs/r1
  launch.sh train  --config configs/default.py --workdir gs://BUCKET/runs/r1 \\
      --dataset_dir gs://BUCKET/data/babycry --config.checkpoint_every_minutes=60
  launch.sh logs
  launch.sh eval   --workdir gs://BUCKET/runs/r1
  launch.sh delete
Unattended, through preemptions: 'launch.sh run' with the options of create and train.
""" + _TPU_HELP + "\n"


def main(argv: list) -> int:
  """Runs launch.sh with these arguments; returns its exit status."""
  name, parser = "", None
  try:
    dry_run, rest = _global_options(argv)
    if not rest:
      raise UsageError("missing SUBCOMMAND")
    name, words = rest[0], rest[1:]
    if name == "local":
      return local.main(words, dry_run)
    if name not in COMMANDS:
      name = ""
      raise UsageError(f"unknown subcommand '{rest[0]}'")
    command = COMMANDS[name]
    epilog = (arguments.TRAINING_EPILOG + "\n\n" if command.overrides else "") + _TPU_HELP
    parser = Parser(name, command.description, epilog)
    command.configure(parser)
    extras = ((" [--config.FIELD=VALUE ...]" if command.overrides else "")
              + (" [-- ARGS ...]" if command.passthrough else ""))
    if extras:
      parser.usage = parser.format_usage().split(": ", 1)[1].rstrip() + extras
    passthrough = []
    if command.passthrough and "--" in words:
      words, passthrough = words[:words.index("--")], words[words.index("--") + 1:]
    args, extra = parser.parse_known_args(words)
    if not command.overrides:
      arguments.no_extra(extra)
    ctx = Context(REPO_ROOT, dry_run or args.dry_run, extra, passthrough)
    return command.run(args, ctx)
  except UsageError as e:
    where = f" {name}" if name else ""
    usage = (parser.format_usage() if parser else local.USAGE if name == "local" else MAIN_USAGE)
    print(f"launch.sh{where}: error: {e}\n{usage.splitlines()[0]}\n"
          f"Run 'launch.sh{where} --help' for details.", file=sys.stderr)
    return 2
  except LaunchError as e:
    print(f"launch.sh{' ' + name if name else ''}: error: {e}", file=sys.stderr)
    return e.status
  except KeyboardInterrupt:
    print(f"launch.sh: interrupted{'; training on the TPU goes on' if name == 'run' else ''}",
          file=sys.stderr)
    return 130


def _global_options(argv: list) -> tuple:
  """(--dry-run given, the words from the subcommand on)."""
  dry_run = False
  for i, word in enumerate(argv):
    if word == "--dry-run":
      dry_run = True
    elif word in ("-h", "--help"):
      print(MAIN_HELP, end="")
      raise SystemExit(0)
    elif word.startswith("-"):
      raise UsageError(f"unknown global option '{word}'")
    else:
      return dry_run, argv[i:]
  return dry_run, []
