"""Test-wide settings: 8 simulated CPU devices stand in for TPU cores.

The flag must be set before jax is first imported, so it lives here.
"""
import os
import pathlib

import pytest

from launch_fakes import fake  # noqa: F401  (the fake cloud that launch.sh's tests run against)

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
SHARED_YAMNET = REPO_ROOT.parent / "shared" / "models" / "yamnet"


@pytest.fixture
def shared_data() -> pathlib.Path:
  """The real media of ../shared/data; tests using it skip where it is absent."""
  if not SHARED_DATA.is_dir():
    pytest.skip(f"real media folder {SHARED_DATA} is absent (only the project's own machines have it)")
  return SHARED_DATA


@pytest.fixture
def shared_yamnet() -> pathlib.Path:
  """Google's YAMNet TFLite file and reference arrays in ../shared/models/yamnet."""
  if not SHARED_YAMNET.is_dir():
    pytest.skip(f"{SHARED_YAMNET} is absent (only the project's own machines have it)")
  return SHARED_YAMNET
