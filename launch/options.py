"""launch.sh's argument parsing: argparse with one-line errors, and the options TPU subcommands share."""
from __future__ import annotations

import argparse
import dataclasses
import os
import re
import shlex

from launch.errors import UsageError

# Flags launch.sh sets itself; passing them through as well would contradict it.
RESERVED_SSH_FLAGS = ("--zone", "--project", "--worker", "--command")
RESERVED_CREATE_FLAGS = ("--zone", "--project", "--accelerator-type", "--version",
                         "--runtime-version", "--node-id", "--spot")
_NAME_RE = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_ENV_ASSIGNMENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


class Parser(argparse.ArgumentParser):
  """argparse whose errors raise UsageError with a plain one-line message."""

  def __init__(self, command: str, description: str, epilog: str | None = None):
    super().__init__(prog=f"launch.sh {command}", description=description, epilog=epilog,
                     allow_abbrev=False, formatter_class=argparse.RawDescriptionHelpFormatter)

  def error(self, message):
    raise UsageError(_plain(message))


def _plain(message: str) -> str:
  """argparse's wording, said the way the rest of launch.sh says it."""
  match = re.match(r"argument ([^:]+): (.*)", message)
  if match:
    option, detail = match.group(1).split("/")[-1], match.group(2)
    if detail == "expected one argument":
      return f"{option} needs a value (write {option}=VALUE when VALUE starts with '-')"
    return f"{option} {detail}"
  if message.startswith("unrecognized arguments: "):
    return f"unknown option '{message.split(': ', 1)[1].split()[0]}'"
  return message


def non_negative_int(text: str) -> int:
  if not re.fullmatch(r"[0-9]+", text):
    raise argparse.ArgumentTypeError(f"must be a non-negative integer, got '{text}'")
  return int(text)


def _number(text: str, low: float, low_allowed: bool) -> float:
  try:
    value = float(text)
  except ValueError:
    value = float("nan")
  if not (value >= low if low_allowed else value > low):  # NaN fails both
    raise argparse.ArgumentTypeError(
        f"must be a number {'>=' if low_allowed else '>'} {low:g}, got '{text}'")
  return value


def positive_number(text: str) -> float:
  return _number(text, 0.0, low_allowed=False)


def non_negative_number(text: str) -> float:
  return _number(text, 0.0, low_allowed=True)


def env_assignment(text: str) -> str:
  if not _ENV_ASSIGNMENT_RE.match(text):
    raise argparse.ArgumentTypeError(f"expects KEY=VALUE, got '{text}'")
  return text


def add_dry_run(parser: argparse.ArgumentParser) -> None:
  parser.add_argument("--dry-run", dest="dry_run", action="store_true",
                      help="print the commands that change something instead of running them "
                           "(read-only queries still run)")


def add_target(parser: argparse.ArgumentParser, create: bool = False) -> None:
  """--name, --zone, --project, the gcloud pass-through flags and --dry-run."""
  group = parser.add_argument_group("the TPU VM (each defaults to its environment variable)")
  group.add_argument("--name", default=os.environ.get("BABYCRY_TPU_NAME", ""),
                     help="TPU VM name (BABYCRY_TPU_NAME)")
  group.add_argument("--zone", default=os.environ.get("BABYCRY_TPU_ZONE", ""),
                     help="zone, e.g. us-central2-b (BABYCRY_TPU_ZONE)")
  group.add_argument("--project", default=os.environ.get("BABYCRY_TPU_PROJECT", ""),
                     help="Google Cloud project (BABYCRY_TPU_PROJECT; else gcloud's default)")
  group.add_argument("--ssh_flags", action="append", default=[], metavar="FLAGS",
                     help="extra flags for every 'tpu-vm ssh' and 'scp', e.g. "
                          "--ssh_flags=--internal-ip or --ssh_flags=--strict-host-key-checking=no "
                          "(BABYCRY_TPU_SSH_FLAGS; repeatable)")
  if create:
    group.add_argument("--create_flags", action="append", default=[], metavar="FLAGS",
                       help="extra flags for 'tpu-vm create' or 'queued-resources create', e.g. "
                            "--create_flags='--internal-ips --network=NET --subnetwork=SUB "
                            "--service-account=SA --scopes=cloud-platform' "
                            "(BABYCRY_TPU_CREATE_FLAGS; repeatable)")
  add_dry_run(parser)


@dataclasses.dataclass(frozen=True)
class Target:
  """Which TPU VM, and the flags every gcloud command about it carries."""
  name: str
  zone: str
  project: str = ""
  ssh_flags: tuple = ()
  create_flags: tuple = ()

  def location(self) -> list:
    return [f"--zone={self.zone}"] + ([f"--project={self.project}"] if self.project else [])


def target(args: argparse.Namespace) -> Target:
  """The checked Target of parsed add_target options."""
  if not args.name:
    raise UsageError("missing --name (or BABYCRY_TPU_NAME)")
  if not args.zone:
    raise UsageError("missing --zone (or BABYCRY_TPU_ZONE)")
  if not _NAME_RE.match(args.name):
    raise UsageError(f"--name '{args.name}' is not a valid TPU name "
                     "(lowercase letters, digits, '-')")
  ssh = pass_through(args.ssh_flags, "BABYCRY_TPU_SSH_FLAGS", "--ssh_flags", RESERVED_SSH_FLAGS)
  create = pass_through(getattr(args, "create_flags", []), "BABYCRY_TPU_CREATE_FLAGS",
                        "--create_flags", RESERVED_CREATE_FLAGS)
  return Target(args.name, args.zone, args.project, ssh, create)


def pass_through(values: list, env_var: str, option: str, reserved: tuple) -> tuple:
  """The gcloud flags of the environment variable, then of each option value (shell-split)."""
  words = []
  for text in [os.environ.get(env_var, "")] + list(values):
    try:
      words += shlex.split(text)
    except ValueError as e:
      raise UsageError(f"{option} '{text}': {e}") from None
  for word in words:
    if not word.startswith("-"):
      raise UsageError(f"{option}: '{word}' is not a flag (flags start with '-')")
    if word.split("=", 1)[0] in reserved:
      raise UsageError(f"{option}: launch.sh sets {word.split('=', 1)[0]} itself")
  return tuple(words)
