"""A persistent cache of compiled programs for the commands a user runs again and again.

`detect` compiles its model on every start, about as long as it then needs for a
hundred short files; JAX's persistent compilation cache keeps the compiled program
on disk, keyed by the program, the devices and the library versions, so the next
start loads it instead. The cache lives under $XDG_CACHE_HOME (default ~/.cache).
"""
from __future__ import annotations

import os

import jax


def default_dir() -> str:
  root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
  return os.path.join(root, "babycry_jax", "jax_compilation")


def enable(cache_dir: str | None = None) -> str:
  """Turns the cache on for programs that take at least a tenth of a second to compile."""
  cache_dir = cache_dir or default_dir()
  jax.config.update("jax_compilation_cache_dir", cache_dir)
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.1)
  return cache_dir
