"""The TPU subcommands of launch.sh: each one's options (argparse) and what it does."""
from __future__ import annotations

import argparse
import collections
import dataclasses
import pathlib

from launch import accelerators, arguments, options, provision, remote, workers
from launch.errors import LaunchError, UsageError
from launch.gcloud import Cloud, Runner
from launch.provision import say
from launch.supervisor import Supervisor


@dataclasses.dataclass
class Context:
  """What every subcommand gets besides its options."""
  repo_root: pathlib.Path
  dry_run: bool
  extra: list  # words argparse did not know: config overrides, where allowed
  passthrough: list  # the words after '--'

  def cloud(self, args: argparse.Namespace) -> Cloud:
    return Cloud(options.target(args), Runner(self.dry_run))


Command = collections.namedtuple(
    "Command", "summary description configure run overrides passthrough", defaults=(False, False))


# ------------------------------------------------------------------ create / delete / status

def configure_create(parser):
  options.add_target(parser, create=True)
  arguments.add_tpu_spec(parser)
  arguments.add_waiting(parser)
  parser.add_argument("--no_wait", action="store_true",
                      help="with --queued: return once the request is made, without waiting")


def create(args, ctx: Context) -> int:
  cloud, spec = ctx.cloud(args), arguments.tpu_spec(args)
  if not args.version:
    say(f"runtime {spec.version}, the default for "
        f"{accelerators.generation(spec.accelerator_type)}")
  provision.create(cloud, spec, None if args.no_wait else arguments.waiting(args))
  if spec.queued and not args.no_wait and not ctx.dry_run:
    say(f"{cloud.target.name} is ACTIVE: next, 'launch.sh setup'")
  return 0


def configure_delete(parser):
  options.add_target(parser)
  parser.add_argument("--queued", action="store_true",
                      help="the TPU VM was made with 'create --queued': delete the queued "
                      "resource together with its node")
  parser.add_argument("--yes", action="store_true",
                      help="do not ask for confirmation (passes --quiet to gcloud)")


def delete(args, ctx: Context) -> int:
  ctx.cloud(args).delete(args.queued, args.yes)
  return 0


def configure_status(parser):
  options.add_target(parser)
  parser.add_argument("--queued", action="store_true", help="show the queued resource's state too")


def status(args, ctx: Context) -> int:
  cloud = ctx.cloud(args)
  name = cloud.target.name
  if args.queued:
    resource = cloud.queued()
    print(f"queued resource {name}: "
          f"{'absent' if resource is None else provision.queued_state(resource)}")
  node = cloud.node()
  if node is None:
    print(f"TPU VM {name}: absent")
    return 0
  spot = (node.get("schedulingConfig") or {}).get("spot")
  print(f"TPU VM {name}: {node.get('state')}, {node.get('acceleratorType')}, "
        f"{len(node.get('networkEndpoints') or [])} workers, runtime "
        f"{node.get('runtimeVersion')}{', spot' if spot else ''}")
  if node.get("state") == "READY":
    for worker in workers.training_status(cloud):
      print(f"  {worker.host}: training {worker.state} {worker.detail}".rstrip())
  return 0


# ------------------------------------------------------------------ setup / doctor

def configure_setup(parser):
  options.add_target(parser)
  arguments.add_python(parser)
  parser.add_argument("--rebuild", action="store_true",
                      help="rebuild the venv even when nothing it was built from changed")


def setup(args, ctx: Context) -> int:
  workers.setup(ctx.cloud(args), ctx.repo_root, args.python, args.rebuild)
  return 0


def configure_doctor(parser):
  options.add_target(parser)
  parser.add_argument("--workdir", default="",
                      help="check every worker can write here (e.g. gs://BUCKET/runs/r1)")
  parser.add_argument("--platform", default="tpu",
                      help="the platform JAX must find (default tpu)")


def doctor(args, ctx: Context) -> int:
  cloud = ctx.cloud(args)
  workers.refuse_while_training(cloud, "the doctor", cloud.workers())
  module = ["-m", "babycry_jax.doctor", "--distributed", f"--platform={args.platform}"]
  module += [f"--workdir={args.workdir}"] if args.workdir else []
  if cloud.ssh("all", remote.python_command(module + ctx.passthrough, []), check=False):
    raise LaunchError("some checks failed (the FAIL lines above)")
  return 0


# ------------------------------------------------------------------ train / logs / stop / eval

def configure_train(parser):
  options.add_target(parser)
  arguments.add_training(parser)


def train(args, ctx: Context) -> int:
  trainer_args, envs = arguments.training(args, ctx.extra, ctx.passthrough)
  workers.start_training(ctx.cloud(args), trainer_args, envs)
  return 0


def configure_logs(parser):
  options.add_target(parser)
  parser.add_argument("--worker", type=options.non_negative_int, default=0,
                      help="worker index (default 0)")
  parser.add_argument("--lines", type=options.non_negative_int, default=100,
                      help="lines of history to show first (default 100)")


def logs(args, ctx: Context) -> int:
  ctx.cloud(args).ssh(args.worker, remote.logs_command(args.lines))
  return 0


def configure_stop(parser):
  options.add_target(parser)
  parser.add_argument("--grace_s", type=options.non_negative_int, default=120,
                      help="seconds to wait after SIGTERM before SIGKILL (default 120)")


def stop(args, ctx: Context) -> int:
  workers.stop_training(ctx.cloud(args), args.grace_s)
  return 0


def configure_eval(parser):
  options.add_target(parser)
  parser.add_argument("--workdir", default="", help="the training run's workdir")
  parser.add_argument("--split", default="", help="split(s) to evaluate (the evaluator's default: test)")
  parser.add_argument("--checkpoint", default="", help="best, latest or a step number")
  parser.add_argument("--worker", type=options.non_negative_int, default=0,
                      help="worker index (default 0)")
  parser.add_argument("--env", action="append", default=[], type=options.env_assignment,
                      metavar="KEY=VALUE", help="environment variable for the evaluator (repeatable)")


def evaluate(args, ctx: Context) -> int:
  if not args.workdir:
    raise UsageError("missing --workdir")
  if args.checkpoint and not (args.checkpoint in ("best", "latest") or args.checkpoint.isdigit()):
    raise UsageError(f"--checkpoint must be best, latest or a step number, got '{args.checkpoint}'")
  cloud = ctx.cloud(args)
  count = cloud.workers()
  workers.refuse_while_training(cloud, "evaluation", count)
  envs = list(args.env)
  if count > 1 and not any(e.startswith("JAX_PLATFORMS=") for e in envs):
    # One host of a multi-host slice cannot run a program on the slice's TPU alone.
    envs.insert(0, "JAX_PLATFORMS=cpu")
    say(f"{cloud.target.name} has {count} workers: evaluating on worker {args.worker} with JAX "
        "on CPU (--env JAX_PLATFORMS=... chooses otherwise)")
  module = ["-m", "babycry_jax.evaluate", f"--workdir={args.workdir}"]
  module += [f"--split={args.split}"] if args.split else []
  module += [f"--checkpoint={args.checkpoint}"] if args.checkpoint else []
  cloud.ssh(args.worker, remote.python_command(module + ctx.passthrough, envs))
  return 0


# ------------------------------------------------------------------ run

def configure_run(parser):
  options.add_target(parser, create=True)
  arguments.add_tpu_spec(parser)
  arguments.add_python(parser)
  arguments.add_training(parser)
  arguments.add_waiting(parser)
  group = parser.add_argument_group("watching")
  group.add_argument("--max_retries", type=options.non_negative_int, default=5, metavar="N",
                     help="re-creations and restarts allowed before giving up (default 5)")
  group.add_argument("--delete_when_done", action="store_true",
                     help="delete the TPU VM once training finished (it bills until deleted)")


def run(args, ctx: Context) -> int:
  if ctx.dry_run:
    raise UsageError("run has no --dry-run: see its commands with create, setup and train --dry-run")
  cloud, spec = ctx.cloud(args), arguments.tpu_spec(args)
  trainer_args, envs = arguments.training(args, ctx.extra, ctx.passthrough)
  if not args.workdir.startswith("gs://"):
    say(f"warning: --workdir {args.workdir} is not a gs:// URL: a re-created TPU VM starts "
        "with an empty disk, and training could not resume from there")
  return Supervisor(cloud, spec, arguments.waiting(args), ctx.repo_root, args.python,
                    trainer_args, envs, max_retries=args.max_retries,
                    poll_s=args.poll_s or 60.0, delete_when_done=args.delete_when_done).run()
