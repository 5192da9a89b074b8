"""TPU generations: which runtime (software version) each one boots, read from its accelerator type."""
from __future__ import annotations

import re

from launch.errors import UsageError

# Runtimes that fit each generation, the default first (Google's TPU software versions
# for JAX on Ubuntu 22.04 images; the alternatives are the older images that still boot).
RUNTIMES = {
    "v2": ("tpu-ubuntu2204-base", "tpu-vm-base"),
    "v3": ("tpu-ubuntu2204-base", "tpu-vm-base"),
    "v4": ("tpu-ubuntu2204-base", "tpu-vm-v4-base"),
    "v5e": ("v2-alpha-tpuv5-lite",),
    "v5p": ("v2-alpha-tpuv5",),
    "v6e": ("v2-alpha-tpuv6e",),
}

# How gcloud spells each generation's accelerator types: the prefix before "-<size>".
_PREFIXES = {"v2": "v2", "v3": "v3", "v4": "v4", "v5litepod": "v5e", "v5p": "v5p", "v6e": "v6e"}
_TYPE_RE = re.compile(r"^(v2|v3|v4|v5litepod|v5p|v6e)-([1-9][0-9]*)$")
EXAMPLE_TYPES = "v4-8, v4-32, v5litepod-16, v5p-8, v6e-8"


def generation(accelerator_type: str) -> str:
  """'v4-32' -> 'v4', 'v5litepod-16' -> 'v5e'; UsageError for a type gcloud would not take."""
  match = _TYPE_RE.match(accelerator_type)
  if not match:
    raise UsageError(f"--accelerator_type '{accelerator_type}' is not a TPU type "
                     f"(e.g. {EXAMPLE_TYPES})")
  return _PREFIXES[match.group(1)]


def runtime_for(accelerator_type: str, version: str, any_version: bool = False) -> str:
  """The runtime to create with: `version`, or the generation's default when it is empty.

  A version that does not fit the generation is refused (the VM would not boot, or
  would boot without a working libtpu), unless `any_version` says it is a newer image.
  """
  gen = generation(accelerator_type)
  fitting = RUNTIMES[gen]
  if not version:
    return fitting[0]
  if version in fitting or any_version:
    return version
  raise UsageError(
      f"--version '{version}' does not fit {accelerator_type} ({gen}); use "
      f"{' or '.join(fitting)} (the default), or pass --any_version for a newer {gen} image")
