"""launch.sh's arguments against the fake gcloud (tests/fake_tpu/): create and delete, runtime
versions, queued resources, pass-through flags, dry runs, local jobs, help and errors."""
import ast
import pathlib
import sys

import pytest

from launch_fakes import NAME_ZONE, REPO_ROOT, dry_run_lines, is_query

TPU_VM = ["compute", "tpus", "tpu-vm"]
QUEUED = ["compute", "tpus", "queued-resources"]
ZONE = "--zone=us-central2-b"


# ------------------------------------------------------------------ create / delete


def test_create_tpu_vm_with_spot_and_project(fake):
  fake.run_ok("create", *NAME_ZONE, "--accelerator_type", "v4-32",
              "--version", "tpu-ubuntu2204-base", "--spot", "--project", "my-proj")
  assert fake.argvs() == [[*TPU_VM, "create", "cry", ZONE, "--project=my-proj",
                           "--accelerator-type=v4-32", "--version=tpu-ubuntu2204-base", "--spot"]]


@pytest.mark.parametrize("accelerator_type, runtime", [
    ("v4-32", "tpu-ubuntu2204-base"), ("v5litepod-16", "v2-alpha-tpuv5-lite"),
    ("v5p-8", "v2-alpha-tpuv5"), ("v6e-8", "v2-alpha-tpuv6e"),
])
def test_runtime_version_defaults_by_generation(fake, accelerator_type, runtime):
  result = fake.run_ok("create", *NAME_ZONE, "--accelerator_type", accelerator_type)
  assert fake.argvs() == [[*TPU_VM, "create", "cry", ZONE, f"--accelerator-type={accelerator_type}",
                           f"--version={runtime}"]]
  assert f"runtime {runtime}, the default for" in result.stderr


@pytest.mark.parametrize("accelerator_type, version", [
    ("v4-32", "v2-alpha-tpuv5-lite"), ("v5litepod-16", "tpu-ubuntu2204-base"),
    ("v6e-8", "v2-alpha-tpuv5"), ("v5p-8", "v2-alpha-tpuv6e"),
])
def test_a_runtime_of_another_generation_is_refused(fake, accelerator_type, version):
  result = fake.run("create", *NAME_ZONE, "--accelerator_type", accelerator_type,
                    "--version", version)
  assert result.returncode == 2
  assert f"--version '{version}' does not fit {accelerator_type}" in result.stderr
  assert "Traceback" not in result.stderr and fake.calls() == []


def test_any_version_lets_a_newer_image_through(fake):
  fake.run_ok("create", *NAME_ZONE, "--accelerator_type=v6e-8", "--version=v2-alpha-tpuv6e-2",
              "--any_version")
  assert fake.argvs()[0][-1] == "--version=v2-alpha-tpuv6e-2"


def test_create_takes_defaults_from_environment(fake):
  fake.run_ok("create", extra_env=dict(
      BABYCRY_TPU_NAME="envtpu", BABYCRY_TPU_ZONE="europe-west4-a",
      BABYCRY_TPU_PROJECT="envproj", BABYCRY_TPU_VERSION="v2-alpha-tpuv6e",
      BABYCRY_TPU_ACCELERATOR_TYPE="v6e-8"))
  assert fake.argvs() == [[*TPU_VM, "create", "envtpu", "--zone=europe-west4-a",
                           "--project=envproj", "--accelerator-type=v6e-8",
                           "--version=v2-alpha-tpuv6e"]]


def test_create_and_ssh_flags_pass_through(fake):
  fake.run_ok("create", *NAME_ZONE, "--accelerator_type=v4-8",
              "--create_flags=--internal-ips --network=corp", "--create_flags=--scopes=cloud-platform",
              extra_env={"BABYCRY_TPU_CREATE_FLAGS": "--service-account=sa@p.iam.gserviceaccount.com "
                                                     "--subnetwork=tpu-sub"})
  assert fake.argvs()[0][-5:] == ["--service-account=sa@p.iam.gserviceaccount.com",
                                  "--subnetwork=tpu-sub", "--internal-ips", "--network=corp",
                                  "--scopes=cloud-platform"]
  fake.run_ok("stop", *NAME_ZONE, "--ssh_flags=--internal-ip",
              extra_env={"BABYCRY_TPU_SSH_FLAGS": "--strict-host-key-checking=no"})
  assert fake.argvs()[-1][5:9] == [ZONE, "--worker=all", "--strict-host-key-checking=no", "--internal-ip"]


def test_queued_create_waits_for_active(fake):
  result = fake.run_ok("create", *NAME_ZONE, "--accelerator_type=v5litepod-16", "--queued",
                       "--poll_s=0.01", extra_env={
                           "FAKE_QUEUED_STATES": "WAITING_FOR_RESOURCES,WAITING_FOR_RESOURCES,"
                                                 "PROVISIONING,ACTIVE"})
  exists, create, *describes = fake.argvs()  # a request already queued is not made twice
  assert exists == [*QUEUED, "describe", "cry", ZONE, "--format=json"]
  assert create == [*QUEUED, "create", "cry", ZONE, "--node-id=cry",
                    "--accelerator-type=v5litepod-16", "--runtime-version=v2-alpha-tpuv5-lite"]
  assert describes == [[*QUEUED, "describe", "cry", ZONE, "--format=json"]] * 4
  progress = [line.split("] ", 1)[1] for line in result.stderr.splitlines() if "] queued" in line]
  assert progress == ["queued resource cry: WAITING_FOR_RESOURCES (waited 0 min)",
                      "queued resource cry: PROVISIONING (waited 0 min)",
                      "queued resource cry: ACTIVE (waited 0 min)"]
  assert fake.node()["state"] == "READY"


@pytest.mark.parametrize("final, detail", [
    ("FAILED", "(no capacity for this accelerator type in the zone)"), ("SUSPENDED", ""),
])
def test_queued_create_stops_on_failed_or_suspended(fake, final, detail):
  result = fake.run("create", *NAME_ZONE, "--accelerator_type=v5litepod-16", "--queued",
                    "--poll_s=0.01", extra_env={"FAKE_QUEUED_STATES": f"WAITING_FOR_RESOURCES,{final}"})
  assert result.returncode == 1
  assert f"launch.sh create: error: queued resource cry is {final}{' ' + detail if detail else ''}: " \
         "it will not become ACTIVE" in result.stderr
  assert "Traceback" not in result.stderr


def test_queued_create_times_out_and_waits_again(fake):
  waiting = {"FAKE_QUEUED_STATES": "WAITING_FOR_RESOURCES"}
  args = ["create", *NAME_ZONE, "--accelerator_type=v4-8", "--queued", "--poll_s=0.01"]
  result = fake.run(*args, "--queue_timeout_min=0.001", extra_env=waiting)
  assert result.returncode == 1
  assert "queued resource cry is still WAITING_FOR_RESOURCES after 0 min; it stays in the " \
         "queue: run the same 'create --queued' to wait again" in result.stderr
  again = fake.run_ok(*args, "--no_wait")
  assert "queued resource cry exists (WAITING_FOR_RESOURCES): not creating it again" in again.stderr
  assert [argv[3] for argv in fake.argvs()].count("create") == 1


@pytest.mark.parametrize("extra_args, expected_tail", [
    ([], [*TPU_VM, "delete", "cry", ZONE]),
    (["--yes"], [*TPU_VM, "delete", "cry", ZONE, "--quiet"]),
    (["--queued", "--yes"], [*QUEUED, "delete", "cry", ZONE, "--force", "--quiet"]),
])
def test_delete(fake, extra_args, expected_tail):
  fake.run_ok("delete", *NAME_ZONE, *extra_args)
  assert fake.argvs() == [expected_tail]


def test_gcloud_env_var_overrides_the_binary(fake, tmp_path):
  other = tmp_path / "my-gcloud"
  other.write_text(f"#!/bin/sh\necho \"$@\" > {tmp_path / 'other.txt'}\n")
  other.chmod(0o755)
  fake.run_ok("delete", *NAME_ZONE, extra_env={"GCLOUD": str(other)})
  assert (tmp_path / "other.txt").read_text() == "compute tpus tpu-vm delete cry --zone=us-central2-b\n"
  assert fake.calls() == []


# ------------------------------------------------------------------ dry run

DRY_RUN_CASES = {
    "create": ["create", *NAME_ZONE, "--accelerator_type", "v4-8", "--spot"],
    "create_queued": ["create", *NAME_ZONE, "--accelerator_type", "v4-8", "--queued", "--no_wait"],
    "train": ["train", *NAME_ZONE, "--config", "configs/default.py", "--workdir", "gs://b/r",
              "--config.seed=3"],
    "logs": ["logs", *NAME_ZONE, "--worker", "1"],
    "stop": ["stop", *NAME_ZONE],
    "delete": ["delete", *NAME_ZONE, "--queued"],
}


@pytest.mark.parametrize("case", sorted(DRY_RUN_CASES))
@pytest.mark.parametrize("position", ["global", "in_subcommand"])
def test_dry_run_prints_exactly_what_a_real_run_invokes(fake, case, position):
  args = DRY_RUN_CASES[case]
  dry_args = ["--dry-run", *args] if position == "global" else [*args, "--dry-run"]
  dry = fake.run_ok(*dry_args)
  assert all(is_query(argv) for argv in fake.argvs()), "a dry run only asks"
  (fake.root / "calls.jsonl").unlink(missing_ok=True)
  fake.run(*args)  # there is no TPU VM to ssh to: the call is recorded all the same
  assert dry.stdout == dry_run_lines(fake.argvs())


def test_run_has_no_dry_run(fake):
  result = fake.run("run", *NAME_ZONE, "--accelerator_type=v4-8", "--config=c.py",
                    "--workdir=gs://b/r", "--dry-run")
  assert result.returncode == 2 and "run has no --dry-run" in result.stderr


# ------------------------------------------------------------------ local


@pytest.mark.parametrize("job, module", [
    ("train", "babycry_jax.train"), ("preprocess", "preprocess"),
    ("eval", "babycry_jax.evaluate"), ("detect", "babycry_jax.detect"),
])
def test_local_dry_run_prints_the_python_command(fake, job, module):
  result = fake.run_ok("--dry-run", "local", job, "--workdir", "runs/a b", "--config.x=1",
                       extra_env={"PYTHON": "python3"})
  assert result.stdout == f"python3 -m {module} --workdir 'runs/a b' --config.x=1\n"


def test_local_train_dry_run_flag_after_job(fake):
  result = fake.run_ok("local", "train", "--config", "configs/default.py", "--workdir", "W",
                       "--dry-run", extra_env={"PYTHON": "python"})
  assert result.stdout == "python -m babycry_jax.train --config configs/default.py --workdir W\n"


def test_local_passthrough_runs_the_command_and_keeps_its_status(fake):
  result = fake.run_ok("local", "--", sys.executable, "-c", "import sys; print(sys.argv[1:])",
                       "--dry-run", "x y")
  assert result.stdout == "['--dry-run', 'x y']\n"  # after --, --dry-run is the command's
  assert fake.run("local", "--", sys.executable, "-c", "raise SystemExit(5)").returncode == 5


# ------------------------------------------------------------------ help and errors

SUBCOMMANDS = ["create", "setup", "doctor", "train", "run", "status", "logs", "eval", "stop",
               "delete", "local"]


@pytest.mark.parametrize("subcommand", SUBCOMMANDS)
def test_subcommand_help(fake, subcommand):
  result = fake.run_ok(subcommand, "--help")
  assert result.stdout.startswith("usage: launch.sh ")
  assert subcommand in result.stdout.splitlines()[0]
  assert fake.calls() == []


def test_main_help_lists_subcommands_and_environment(fake):
  result = fake.run_ok("--help")
  for word in [*SUBCOMMANDS, "BABYCRY_TPU_ZONE", "BABYCRY_TPU_PROJECT", "BABYCRY_TPU_VERSION",
               "BABYCRY_TPU_CREATE_FLAGS", "BABYCRY_TPU_SSH_FLAGS", "GCLOUD", "docs/tpu.md"]:
    assert word in result.stdout


@pytest.mark.parametrize("args, message", [
    ([], "missing SUBCOMMAND"),
    (["launch"], "unknown subcommand 'launch'"),
    (["--verbose", "create"], "unknown global option '--verbose'"),
    (["create", "--zone", "z", "--accelerator_type", "v4-8"], "missing --name"),
    (["create", "--name", "cry", "--accelerator_type", "v4-8"], "missing --zone"),
    (["create", *NAME_ZONE], "missing --accelerator_type"),
    (["create", *NAME_ZONE, "--accelerator_type", "v9-8"], "--accelerator_type 'v9-8' is not a TPU type"),
    (["create", *NAME_ZONE, "--bogus"], "unknown option '--bogus'"),
    (["create", "--name"], "--name needs a value"),
    (["create", "--name", "Bad_Name", "--zone", "z"], "not a valid TPU name"),
    (["create", *NAME_ZONE, "--create_flags", "--internal-ips"], "--create_flags needs a value"),
    (["create", *NAME_ZONE, "--create_flags=network"], "'network' is not a flag"),
    (["create", *NAME_ZONE, "--create_flags=--zone=x"], "launch.sh sets --zone itself"),
    (["logs", *NAME_ZONE, "--ssh_flags=--command=ls"], "launch.sh sets --command itself"),
    (["setup", "--zone", "z"], "missing --name"),
    (["train", *NAME_ZONE, "--workdir", "w"], "missing --config"),
    (["train", *NAME_ZONE, "--config", "c.py"], "missing --workdir"),
    (["train", *NAME_ZONE, "--config", "c.py", "--workdir", "w", "--config.seed", "3"],
     "write config overrides as --config.seed=VALUE"),
    (["train", *NAME_ZONE, "--config", "c.py", "--workdir", "w", "--env", "1X=2"],
     "--env expects KEY=VALUE"),
    (["logs", *NAME_ZONE, "--worker", "all"], "--worker must be a non-negative integer"),
    (["logs", *NAME_ZONE, "--", "x"], "unknown option '--'"),
    (["eval", *NAME_ZONE], "missing --workdir"),
    (["eval", *NAME_ZONE, "--workdir", "w", "--checkpoint", "newest"], "--checkpoint must be"),
    (["stop", *NAME_ZONE, "--grace_s", "soon"], "--grace_s must be"),
    (["run", *NAME_ZONE, "--config=c.py", "--workdir=w"], "missing --accelerator_type"),
    (["run", *NAME_ZONE, "--accelerator_type=v4-8", "--config=c.py", "--workdir=w",
      "--poll_s=0"], "--poll_s must be a number > 0"),
    (["delete", "--name", "cry"], "missing --zone"),
    (["local"], "missing JOB"),
    (["local", "serve"], "unknown local job 'serve'"),
    (["local", "--"], "nothing to run after --"),
])
def test_bad_arguments_exit_2_with_usage(fake, args, message):
  result = fake.run(*args)
  assert result.returncode == 2, (result.stdout, result.stderr)
  assert message in result.stderr
  assert "usage: launch.sh" in result.stderr and "Traceback" not in result.stderr
  assert fake.calls() == []
  assert result.stdout == ""


def test_the_launcher_needs_only_the_standard_library_of_python_3_9():
  """It runs on the user's machine, with whatever Python is there."""
  for path in sorted((REPO_ROOT / "launch").glob("*.py")):
    tree = ast.parse(path.read_text(), feature_version=(3, 9))
    for node in ast.walk(tree):
      names = ([a.name for a in node.names] if isinstance(node, ast.Import)
               else [node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
      for name in names:
        top = name.split(".")[0]
        assert top == "launch" or top in sys.stdlib_module_names or top == "__future__", \
            f"{path.name} imports {name}"
  assert pathlib.Path(REPO_ROOT / "launch.sh").stat().st_mode & 0o111
