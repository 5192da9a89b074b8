# Installs the source tree that launch.sh copied here and the environment it runs in.
# Set before this: TARBALL CODE_DIR VENV_DIR UV_DIR UV_VERSION PYTHON_REQUEST MIN_PYTHON
# JAX_SPEC REBUILD (paths relative to $HOME).
cd "$HOME"
host=$(hostname)
fail() { echo "$host: error: $*" >&2; exit 1; }

# Unpacked beside the old tree and swapped in, so files deleted there vanish here too.
rm -rf "$CODE_DIR.new"
mkdir -p "$CODE_DIR.new"
tar -xzf "$TARBALL" -C "$CODE_DIR.new"
rm -rf "$CODE_DIR"
mv "$CODE_DIR.new" "$CODE_DIR"
rm -f "$TARBALL"

# uv, pinned and in a folder of its own: it brings a standalone CPython whatever the image
# has (Ubuntu 22.04's is 3.10) and makes venvs without the image's python3-venv.
uv="$HOME/$UV_DIR/uv"
case "$("$uv" --version 2>/dev/null || true)" in
  "uv $UV_VERSION"|"uv $UV_VERSION "*) ;;
  *)
    echo "$host: installing uv $UV_VERSION into ~/$UV_DIR"
    curl -LsSf "https://astral.sh/uv/$UV_VERSION/install.sh" \
      | env UV_UNMANAGED_INSTALL="$HOME/$UV_DIR" sh >/dev/null \
      || fail "installing uv failed: the worker needs the internet (an external IP or Cloud NAT)"
    ;;
esac

case "$PYTHON_REQUEST" in
  3.[0-9]*)  # a version: CPython from uv (kept under ~/.local/share/uv/python)
    "$uv" python install --quiet "$PYTHON_REQUEST" || fail "uv could not install Python $PYTHON_REQUEST"
    python=$("$uv" python find --managed-python "$PYTHON_REQUEST") ;;
  *)  # an interpreter already on the worker
    python=$(command -v "$PYTHON_REQUEST") || fail "there is no $PYTHON_REQUEST on this worker" ;;
esac
version=$("$python" --version 2>&1 | sed -n 's/^Python \([0-9][0-9.]*\).*/\1/p')
IFS=. read -r major minor _ <<<"$version.0.0"
IFS=. read -r need_major need_minor <<<"$MIN_PYTHON"
if [ -z "$version" ] || [ "$major" -lt "$need_major" ] \
    || { [ "$major" -eq "$need_major" ] && [ "$minor" -lt "$need_minor" ]; }; then
  fail "$python is Python ${version:-of unknown version}; the pinned jax and numpy need" \
    "$MIN_PYTHON or newer: leave --python at its default (CPython from uv) or name a newer one"
fi

# The environment is rebuilt whenever what it was built from changed; this line records it.
venv="$HOME/$VENV_DIR"
built_from="$python (Python $version); $JAX_SPEC; setup.py $(sha256sum "$CODE_DIR/setup.py" | cut -d' ' -f1)"
stamp="$venv/babycry_jax_built_from.txt"
previous=$(cat "$stamp" 2>/dev/null || true)
if [ "$REBUILD" = 1 ] || [ "$built_from" != "$previous" ]; then
  if [ "$REBUILD" = 1 ]; then why="asked to"
  elif [ -n "$previous" ]; then why="it was built from $previous"
  elif [ -e "$venv" ]; then why="it was not built by this setup"
  else why="there was none"; fi
  echo "$host: building ~/$VENV_DIR with Python $version ($why)"
  rm -rf "$venv"
  "$uv" venv --quiet --seed --python "$python" "$venv"
  "$uv" pip install --quiet --python "$venv/bin/python" -e "./$CODE_DIR" "$JAX_SPEC"
  echo "$built_from" > "$stamp"
  outcome="built"
else
  # Same interpreter and dependencies: only the project itself is installed again.
  "$uv" pip install --quiet --python "$venv/bin/python" --no-deps -e "./$CODE_DIR"
  outcome="kept (same Python, $JAX_SPEC and setup.py)"
fi
installed=$("$venv/bin/python" -c '
import importlib.metadata as metadata
def version(package):
  try:
    return metadata.version(package)
  except metadata.PackageNotFoundError:
    return "none"
print(", ".join(f"{p} {version(p)}" for p in ("jax", "jaxlib", "libtpu")))')
echo "$host: environment $outcome: Python $version, $installed in ~/$VENV_DIR"
