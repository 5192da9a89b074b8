"""launch.sh on simulated workers (tests/fake_tpu/): each worker's home is a folder where the
worker scripts run with bash; its `python3` is the images' 3.10, and `curl` and `uv` are fakes
that record what setup asks of them."""
import os
import pathlib
import time

import pytest

from launch_fakes import NAME_ZONE, dry_run_lines, make_git_tree, ssh_script

ZONE = "--zone=us-central2-b"


def tool_calls(fake, prefix=""):
  return [line for line in fake.tools_log.read_text().splitlines() if line.startswith(prefix)]


def wait_for(condition, what, timeout_s=10.0):
  deadline = time.monotonic() + timeout_s
  while not condition():
    assert time.monotonic() < deadline, f"timed out waiting for {what}"
    time.sleep(0.05)


# ------------------------------------------------------------------ setup


def test_setup_installs_python_3_11_where_the_image_has_3_10(fake, tmp_path):
  tree = make_git_tree(tmp_path)
  fake.add_node()
  result = fake.run_ok("setup", *NAME_ZONE, launch=tree / "launch.sh")
  scp, ssh = fake.calls()
  tarball = scp["argv"][4]
  assert scp["argv"] == ["compute", "tpus", "tpu-vm", "scp", tarball, "cry:babycry_jax_src.tar.gz",
                         ZONE, "--worker=all"]
  assert {".gitignore", "launch.sh", "pkg/__init__.py", "pkg/new_module.py", "setup.py",
          "launch/worker/setup.sh"} <= set(scp["tar_members"])
  assert not any(m.startswith((".venv", "runs")) for m in scp["tar_members"])
  assert not pathlib.Path(tarball).parent.exists(), "the local staging folder must be removed"
  assert ssh["argv"][:7] == ["compute", "tpus", "tpu-vm", "ssh", "cry", ZONE, "--worker=all"]
  assert "JAX_SPEC='jax[tpu]==9.8.7'" in ssh_script(ssh["argv"])

  home = fake.home()
  python = f"{home}/.fake_uv_python/3.11/bin/python3.11"
  venv = f"{home}/babycry_jax_venv"
  assert tool_calls(fake, "curl") == ["curl -LsSf https://astral.sh/uv/0.13.9/install.sh"]
  assert tool_calls(fake, "uv") == [
      "uv python install --quiet 3.11", "uv python find --managed-python 3.11",
      f"uv venv --quiet --seed --python {python} {venv}",
      f"uv pip install --quiet --python {venv}/bin/python -e ./babycry_jax jax[tpu]==9.8.7"]
  assert tool_calls(fake, "python3 ") == [], "the image's python3 3.10 makes nothing"
  assert "installing uv 0.13.9 into ~/babycry_jax_uv" in result.stdout
  assert "building ~/babycry_jax_venv with Python 3.11.9 (there was none)" in result.stdout
  assert ("environment built: Python 3.11.9, jax 9.8.7, jaxlib 9.8.7, libtpu 0.0.21 in "
          "~/babycry_jax_venv") in result.stdout
  assert (home / "babycry_jax" / "pkg" / "new_module.py").is_file()
  assert not (home / "babycry_jax_src.tar.gz").exists()

  fake.tools_log.write_text("")
  again = fake.run_ok("setup", *NAME_ZONE, launch=tree / "launch.sh")
  assert "environment kept (same Python, jax[tpu]==9.8.7 and setup.py)" in again.stdout
  assert tool_calls(fake, "curl") == []
  assert tool_calls(fake, "uv") == [
      "uv --version", "uv python install --quiet 3.11", "uv python find --managed-python 3.11",
      f"uv pip install --quiet --python {venv}/bin/python --no-deps -e ./babycry_jax"]


def test_setup_refuses_a_python_older_than_3_11(fake, tmp_path):
  tree = make_git_tree(tmp_path)
  fake.add_node()
  result = fake.run("setup", *NAME_ZONE, "--python", "python3", launch=tree / "launch.sh")
  assert result.returncode == 1
  assert "is Python 3.10.12; the pinned jax and numpy need 3.11 or newer" in result.stderr
  assert not (fake.home() / "babycry_jax_venv").exists()


def test_setup_rebuilds_the_environment_when_what_it_was_built_from_changed(fake, tmp_path):
  tree = make_git_tree(tmp_path)
  fake.add_node(workers=2)
  for worker in (0, 1):  # a venv an earlier setup made with the image's Python 3.10
    (fake.home(worker) / "babycry_jax_venv" / "bin").mkdir(parents=True)
  setup = lambda *args: fake.run_ok("setup", *NAME_ZONE, *args, launch=tree / "launch.sh").stdout
  out = setup()
  assert out.count("building ~/babycry_jax_venv with Python 3.11.9 (it was not built by this "
                   "setup)") == 2
  out = setup("--python=3.12")
  assert out.count("building ~/babycry_jax_venv with Python 3.12.9 (it was built from "
                   f"{fake.home(0)}/.fake_uv_python/3.11/bin/python3.11 (Python 3.11.9)") == 1
  assert "environment built: Python 3.12.9" in out
  assert setup("--python=3.12").count("environment kept") == 2
  (tree / "setup.py").write_text((tree / "setup.py").read_text() + '    "numpy==2.4.6",\n')
  assert setup("--python=3.12").count("environment built") == 2
  assert setup("--python=3.12", "--rebuild").count("(asked to)") == 2


def test_setup_without_git_packs_tree_minus_caches(fake, tmp_path):
  tree = make_git_tree(tmp_path)
  for ignored in ("pkg/__pycache__/a.pyc", "data/big.tfrecord", "x.egg-info/PKG-INFO"):
    (tree / ignored).parent.mkdir(parents=True, exist_ok=True)
    (tree / ignored).write_text("")
  fake.add_node()
  fake.run_ok("setup", *NAME_ZONE, launch=tree / "launch.sh", cwd=tree,
              extra_env={"GIT_DIR": str(tmp_path / "no-git")})
  members = fake.calls()[0]["tar_members"]
  assert {"pkg/new_module.py", "launch/cli.py", "setup.py", ".gitignore"} <= set(members)
  assert not [m for m in members if m.startswith((".git/", ".venv/", "data/", "runs/",
                                                   "pkg/__pycache__", "x.egg-info"))]


def test_dry_run_setup_prints_pack_copy_install(fake, tmp_path):
  tree = make_git_tree(tmp_path)
  fake.add_node()
  dry = fake.run_ok("--dry-run", "setup", *NAME_ZONE, launch=tree / "launch.sh")
  assert fake.calls() == [] and not (fake.home() / "babycry_jax").exists()
  pack, copy_and_install = dry.stdout.split("\n", 1)
  assert pack.startswith(f"# pack the source tree of {tree} into ")
  tarball = pack.rsplit(" ", 1)[1]
  assert not pathlib.Path(tarball).exists()
  fake.run_ok("setup", *NAME_ZONE, launch=tree / "launch.sh")
  real = [[a if a != fake.argvs()[0][4] else tarball for a in argv] for argv in fake.argvs()]
  assert copy_and_install == dry_run_lines(real)


# ------------------------------------------------------------------ train / status / stop / eval


def test_train_runs_the_same_command_on_all_workers(fake):
  fake.run("train", *NAME_ZONE, "--config", "configs/default.py",
           "--workdir", "gs://bucket/runs/r1", "--dataset_dir", "gs://bucket/data/cry",
           "--config.num_epochs=3", "--config.note=it's a test", "--env", "TPU_STDERR_LOG_LEVEL=2",
           "--", "--alsologtostderr")
  (argv,) = fake.argvs()
  assert argv[:7] == ["compute", "tpus", "tpu-vm", "ssh", "cry", ZONE, "--worker=all"]
  script = ssh_script(argv)
  assert "TRAINER_ENV=(TPU_STDERR_LOG_LEVEL=2)\n" in script
  assert ("TRAINER_ARGS=(-m babycry_jax.train --distributed --config=configs/default.py "
          "--workdir=gs://bucket/runs/r1 --config.dataset_dir=gs://bucket/data/cry "
          """--config.num_epochs=3 '--config.note=it'"'"'s a test' --alsologtostderr)\n""") in script
  assert "setsid nohup bash" in script


def test_setup_train_status_stop_on_a_simulated_worker(fake, tmp_path):
  tree = make_git_tree(tmp_path)
  fake.add_node()
  launch = tree / "launch.sh"
  logs = fake.home() / "babycry_jax_logs"
  fake.run_ok("setup", *NAME_ZONE, launch=launch)
  assert "training absent" in fake.run_ok("status", *NAME_ZONE, launch=launch).stdout

  fake.run_ok("train", *NAME_ZONE, "--config", "configs/default.py", "--workdir", "w 1", launch=launch)
  group = int((logs / "train.pid").read_text())
  os.killpg(group, 0)  # raises if the trainer is not running
  wait_for(lambda: "training in" in (logs / "train.log").read_text(), "the trainer's first line")
  assert (f"training in {fake.home() / 'babycry_jax'} with: -m babycry_jax.train --distributed "
          "--config=configs/default.py --workdir=w 1") in (logs / "train.log").read_text()
  status = fake.run_ok("status", *NAME_ZONE, launch=launch).stdout
  assert status.splitlines()[0] == "TPU VM cry: READY, v4-8, 1 workers, runtime tpu-ubuntu2204-base"
  assert status.splitlines()[1].endswith(": training running")

  again = fake.run("train", *NAME_ZONE, "--config", "c.py", "--workdir", "w", launch=launch)
  assert again.returncode == 1 and "already running" in again.stderr

  stopped = fake.run_ok("stop", *NAME_ZONE, "--grace_s", "10", launch=launch)
  assert "training stopped" in stopped.stdout
  assert "got SIGTERM, saving" in (logs / "train.log").read_text()
  assert not (logs / "train.pid").exists()
  with pytest.raises(ProcessLookupError):
    os.killpg(group, 0)
  assert fake.run_ok("status", *NAME_ZONE, launch=launch).stdout.endswith(": training stopped\n")
  assert "no training was started here" in fake.run_ok("stop", *NAME_ZONE, launch=launch).stdout


@pytest.mark.parametrize("trainer, state", [("exit:0", "finished"), ("exit:3", "failed 3")])
def test_status_tells_how_training_ended(fake, tmp_path, trainer, state):
  tree = make_git_tree(tmp_path)
  fake.add_node()
  env = {"FAKE_TRAINER": trainer}
  fake.run_ok("setup", *NAME_ZONE, launch=tree / "launch.sh")
  fake.run_ok("train", *NAME_ZONE, "--config=c.py", "--workdir=w", launch=tree / "launch.sh",
              extra_env=env)
  exit_file = fake.home() / "babycry_jax_logs" / "train.exit"
  wait_for(exit_file.exists, "the trainer's end")
  assert fake.run_ok("status", *NAME_ZONE).stdout.endswith(f": training {state}\n")


def test_eval_on_a_multi_host_slice_uses_the_cpu_of_worker_0_and_waits_for_training(fake, tmp_path):
  tree = make_git_tree(tmp_path)
  fake.add_node(workers=4, accelerator_type="v4-32")
  launch = tree / "launch.sh"
  fake.run_ok("setup", *NAME_ZONE, launch=launch)
  args = ["eval", *NAME_ZONE, "--workdir", "gs://b/r1", "--split", "test", "--checkpoint", "best"]
  result = fake.run_ok(*args, launch=launch)
  assert fake.argvs()[-1][4:] == [
      "cry", ZONE, "--worker=0",
      '--command=cd "$HOME"/babycry_jax && env JAX_PLATFORMS=cpu "$HOME"/babycry_jax_venv/bin/python '
      "-m babycry_jax.evaluate --workdir=gs://b/r1 --split=test --checkpoint=best"]
  assert ("fake python ran: -m babycry_jax.evaluate --workdir=gs://b/r1 --split=test "
          "--checkpoint=best (JAX_PLATFORMS=cpu)") in result.stdout
  assert "cry has 4 workers: evaluating on worker 0 with JAX on CPU" in result.stderr

  fake.run_ok("train", *NAME_ZONE, "--config=c.py", "--workdir=gs://b/r1", launch=launch)
  refused = fake.run(*args, launch=launch)
  assert refused.returncode == 1
  assert ("launch.sh eval: error: training is running on 4 of 4 workers of cry, and evaluation "
          "would compete with it for the TPU") in refused.stderr
  fake.run_ok("stop", *NAME_ZONE, "--grace_s=5", launch=launch)
  chosen = fake.run_ok(*args, "--env", "JAX_PLATFORMS=tpu", launch=launch)
  assert "(JAX_PLATFORMS=tpu)" in chosen.stdout


def test_eval_on_a_single_host_uses_its_tpu(fake, tmp_path):
  tree = make_git_tree(tmp_path)
  fake.add_node(workers=1)
  fake.run_ok("setup", *NAME_ZONE, launch=tree / "launch.sh")
  result = fake.run_ok("eval", *NAME_ZONE, "--workdir=gs://b/r1", "--", "--modalities=both,audio",
                       launch=tree / "launch.sh")
  assert ("fake python ran: -m babycry_jax.evaluate --workdir=gs://b/r1 --modalities=both,audio "
          "(JAX_PLATFORMS=)") in result.stdout


def test_doctor_runs_on_every_worker_and_not_beside_training(fake, tmp_path):
  tree = make_git_tree(tmp_path)
  fake.add_node(workers=2)
  launch = tree / "launch.sh"
  fake.run_ok("setup", *NAME_ZONE, launch=launch)
  result = fake.run_ok("doctor", *NAME_ZONE, "--workdir", "gs://b/r1", launch=launch)
  assert result.stdout.count("fake python ran: -m babycry_jax.doctor --distributed "
                             "--platform=tpu --workdir=gs://b/r1") == 2
  fake.run_ok("train", *NAME_ZONE, "--config=c.py", "--workdir=gs://b/r1", launch=launch)
  refused = fake.run("doctor", *NAME_ZONE, launch=launch)
  assert refused.returncode == 1 and "the doctor would compete with it" in refused.stderr
