#!/usr/bin/env bash
# Runs babycry_jax jobs on a Cloud TPU VM (every worker of a pod slice at once) or on this
# machine. `launch.sh --help` lists the subcommands; each has --help. What it does is the
# Python package launch/ beside this file (standard library only, Python 3.9 or newer).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${BABYCRY_LAUNCH_PYTHON:-}"
if [[ -z "$python" ]]; then
  if command -v python3 >/dev/null 2>&1; then python=python3; else python=python; fi
fi
if ! command -v "$python" >/dev/null 2>&1; then
  echo "launch.sh: error: no $python on PATH: launch.sh needs Python 3.9 or newer" \
    "(set BABYCRY_LAUNCH_PYTHON)" >&2
  exit 1
fi
# The package is found by path rather than PYTHONPATH, which gcloud and local jobs inherit.
exec "$python" -c '
import sys
if sys.version_info < (3, 9):
    sys.exit("launch.sh: error: it needs Python 3.9 or newer (set BABYCRY_LAUNCH_PYTHON)")
sys.path.insert(0, sys.argv[1])
from launch.cli import main
sys.exit(main(sys.argv[2:]))
' "$repo_root" "$@"
