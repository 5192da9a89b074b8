"""The three floors hold: data contract < library < commands (see docs/layout.md).

Every import in the project's packages is read from the source (module level
and inside functions alike), so a lazy import cannot slip past.
"""
import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = ("babycry_jax", "preprocess", "configs", "benchmarks", "launch")
DATA = "babycry_jax.data"


def _module_name(path: pathlib.Path) -> str:
  parts = list(path.relative_to(ROOT).with_suffix("").parts)
  if parts[-1] == "__init__":
    parts.pop()
  return ".".join(parts)


def _modules() -> dict[str, pathlib.Path]:
  return {_module_name(p): p for package in PACKAGES for p in (ROOT / package).rglob("*.py")}


MODULES = _modules()


def _is_command(name: str) -> bool:
  source = MODULES[name].read_text()
  return name.endswith("__main__") or 'if __name__ == "__main__":' in source


def _imports(name: str) -> set[str]:
  """The project modules `name` imports (a `from pkg import mod` counts as pkg.mod)."""
  found = set()
  package = name if MODULES[name].name == "__init__.py" else name.rpartition(".")[0]
  for node in ast.walk(ast.parse(MODULES[name].read_text())):
    if isinstance(node, ast.Import):
      targets = [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom):
      base = node.module or ""
      if node.level:
        base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1] + [base]).strip(".")
      targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base
                 for alias in node.names]
    else:
      continue
    found.update(t for t in targets if t in MODULES and t != name)
  return found


def _floor(name: str) -> str:
  if name == DATA or name.startswith(DATA + "."):
    return "data"
  return "command" if _is_command(name) else "library"


def _allowed(importer: str, imported: str) -> bool:
  """May `importer` import `imported`? Lower floors only; packages as drawn in docs/layout.md."""
  if _floor(imported) == "command":
    return False  # nothing imports a command, a command least of all
  if _floor(importer) == "command":
    return True  # a command may use any library
  if _floor(importer) == "data":
    return _floor(imported) == "data"
  top, imported_top = importer.split(".")[0], imported.split(".")[0]
  if top in ("configs", "launch"):  # launch runs on the user's machine, without the project's stack
    return imported_top == top
  if top == "preprocess":
    return imported_top == "preprocess" or _floor(imported) == "data"
  if top == "babycry_jax" and _floor(importer) == "library":
    return imported_top == "babycry_jax"
  return True  # benchmark libraries may use any library


def test_the_walk_sees_every_floor():
  floors = {_floor(m) for m in MODULES}
  assert floors == {"data", "library", "command"}
  assert _is_command("babycry_jax.train") and not _is_command("babycry_jax.trainer")
  assert "babycry_jax.data.schema" in _imports("babycry_jax.data.features")
  assert "babycry_jax.trainer" in _imports("babycry_jax.train")


@pytest.mark.parametrize("name", sorted(MODULES))
def test_imports_stay_on_lower_floors(name):
  wrong = sorted(m for m in _imports(name) if not _allowed(name, m))
  assert not wrong, f"{name} ({_floor(name)}) imports {wrong}"


def test_no_module_shadows_the_standard_library():
  import sys
  shadowing = sorted(n for n in MODULES if n.rsplit(".", 1)[-1] in sys.stdlib_module_names)
  assert not shadowing, shadowing
