"""The source tree setup copies to the workers, packed as a .tar.gz."""
from __future__ import annotations

import fnmatch
import os
import pathlib
import subprocess
import tarfile

# Without git: what is left out of the tree (local builds, data and runs).
_SKIPPED_DIRS = (".git", ".venv", "__pycache__", "*.egg-info", ".pytest_cache")
_SKIPPED_TOP_DIRS = ("build", "data", "runs", "detections")


def git_files(root: pathlib.Path):
  """What git would commit (tracked and untracked, not ignored), or None outside a repository."""
  try:
    listing = subprocess.run(["git", "-C", str(root), "ls-files", "-z", "--cached", "--others",
                              "--exclude-standard"], capture_output=True, check=True)
  except (OSError, subprocess.CalledProcessError):
    return None
  return [name for name in listing.stdout.decode().split("\0") if name]


def tree_files(root: pathlib.Path) -> list:
  """Every file under root except caches, virtual environments, data and runs."""
  found = []
  for folder, dirs, files in os.walk(root):
    relative = pathlib.Path(folder).relative_to(root)
    dirs[:] = sorted(d for d in dirs
                     if not any(fnmatch.fnmatch(d, p) for p in _SKIPPED_DIRS)
                     and not (relative == pathlib.Path(".") and d in _SKIPPED_TOP_DIRS))
    found += [str(relative / f) if str(relative) != "." else f for f in sorted(files)]
  return found


def pack(root: pathlib.Path, tarball: str) -> str:
  """Writes the tree's files into `tarball`; returns how they were chosen, for the log."""
  files = git_files(root)
  how = "git ls-files --cached --others --exclude-standard"
  if files is None:
    files, how = tree_files(root), "every file but caches, .venv, data/ and runs/"
  present = [name for name in sorted(files) if os.path.isfile(root / name)]  # not deleted ones
  with tarfile.open(tarball, "w:gz") as archive:
    for name in present:
      archive.add(root / name, arcname=name)
  return f"{len(present)} files of {root} ({how})"
