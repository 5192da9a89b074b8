"""The README and docs/ name only what exists: links, `python -m` commands and repo paths.

Every relative link resolves to a file (or folder) and, with a #fragment, to a heading of
that file (GitHub's anchors); every `python -m MODULE` names a module of the repo (or one
of the few third-party ones listed below); every repo-looking path in backticks, and every
argument of a fenced command that starts with a top-level folder of the repo, exists.
"""
import os
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = [README] + sorted((ROOT / "docs").glob("*.md"))
MAX_README_LINES = 320

# `python -m` modules that are not ours: the venv, pip, pytest and Beam's own services.
THIRD_PARTY_MODULES = ("venv", "pip", "pytest", "apache_beam.")

# A path in backticks that a user or a command makes, not the repo: under runs/, data/,
# detections/, a bucket, a home, the folder beside the repo, an absolute path (/t/dd00002
# is an AudioSet label), or with a placeholder (W, X, DIR, MEDIA, OUT, <...>, NNNNN, a glob).
USER_PATH_PREFIXES = ("runs/", "data/", "detections/", "gs://", "~", "../", "/")
PLACEHOLDER = re.compile(r"<|\*|NNNNN|\b(W|X|DIR|MEDIA|OUT)\b")
# Bare file names (no folder) of these kinds are what the commands write (metrics.json,
# roc.png); bare .py/.md/.sh names are modules or files named within a listed folder.
BARE_OUTPUT_SUFFIXES = (".json", ".png")
REPO_PATH_SUFFIXES = (".py", ".md", ".sh", ".json", ".png")
TOP_LEVEL = tuple(p.name + "/" for p in ROOT.iterdir() if p.is_dir() and not p.name.startswith("."))

FENCE = re.compile(r"^```.*?^```[ \t]*$", re.M | re.S)
INLINE_CODE = re.compile(r"`([^`\n]+)`")
LINK = re.compile(r"!?\[[^\]\n]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$", re.M)
PYTHON_M = re.compile(r"python3?\s+-m\s+([A-Za-z_][\w.]*)")


def _prose(text: str) -> str:
  """The text outside fenced code blocks and inline code."""
  return INLINE_CODE.sub("", FENCE.sub("", text))


def _slug(title: str) -> str:
  """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to '-'."""
  title = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", title)   # a link keeps its text
  return re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")


def _anchors(page: pathlib.Path) -> set[str]:
  """Every heading's anchor in `page`; a repeated one gets -1, -2, ... as on GitHub."""
  seen: dict[str, int] = {}
  anchors = set()
  for _, title in HEADING.findall(FENCE.sub("", page.read_text())):
    slug = _slug(title)
    count = seen.get(slug, 0)
    seen[slug] = count + 1
    anchors.add(slug if count == 0 else f"{slug}-{count}")
  return anchors


def _links():
  for page in PAGES:
    for target in LINK.findall(_prose(page.read_text())):
      if not re.match(r"[a-z]+:", target):   # http:, https:, mailto:
        yield page, target


def _commands():
  for page in PAGES:
    for module in PYTHON_M.findall(page.read_text()):
      yield page, module


def _is_user_path(path: str) -> bool:
  return path.startswith(USER_PATH_PREFIXES) or bool(PLACEHOLDER.search(path))


def _backticked_paths():
  for page in PAGES:
    text = FENCE.sub("", page.read_text())
    for span in INLINE_CODE.findall(text):
      if re.search(r"\s", span) or span.startswith("-"):
        continue   # a command line or a flag, not a path
      path = span.rstrip(".,:;")
      if "/" not in path and not path.endswith(REPO_PATH_SUFFIXES):
        continue
      if _is_user_path(path) or ("/" not in path and path.endswith(BARE_OUTPUT_SUFFIXES)):
        continue
      yield page, path


def _fenced_paths():
  for page in PAGES:
    for block in FENCE.findall(page.read_text()):
      for token in re.split(r"[\s=]+", block):
        token = token.strip("'\"`,;()[]")
        if token.startswith("./"):
          token = token[2:]
        if token.startswith(TOP_LEVEL) and not _is_user_path(token):
          yield page, token


def _repo_file_names() -> set[str]:
  """The names of the repo's files, outside hidden folders, caches and user data."""
  names = set()
  for folder, subfolders, files in os.walk(ROOT):
    subfolders[:] = [d for d in subfolders if not d.startswith((".", "__"))
                     and not (pathlib.Path(folder) == ROOT and f"{d}/" in USER_PATH_PREFIXES)]
    names.update(files)
  return names


REPO_FILE_NAMES = _repo_file_names()


def _exists(path: str) -> bool:
  if "/" in path:
    return (ROOT / path).exists()
  return path in REPO_FILE_NAMES   # a bare name: a file of that name somewhere in the repo


def _module_exists(module: str) -> bool:
  if module.startswith(THIRD_PARTY_MODULES) or module in THIRD_PARTY_MODULES:
    return True
  base = ROOT.joinpath(*module.split("."))
  return base.with_suffix(".py").is_file() or (base / "__main__.py").is_file()


LINKS, COMMANDS = list(_links()), list(_commands())
PATHS = list(_backticked_paths()) + list(_fenced_paths())


def test_readme_is_a_manual_of_at_most_320_lines():
  lines = README.read_text().count("\n")
  assert lines <= MAX_README_LINES, f"README.md has {lines} lines; the rest belongs in docs/"


def test_the_checks_see_enough_to_mean_something():
  assert len(PAGES) >= 7, [p.name for p in PAGES]
  assert len(LINKS) >= 30 and len(COMMANDS) >= 40 and len(PATHS) >= 120, (
      len(LINKS), len(COMMANDS), len(PATHS))
  in_readme = [sum(page == README for page, _ in found) for found in (LINKS, COMMANDS, PATHS)]
  assert min(in_readme) >= 15, in_readme   # links, commands, paths of the README itself


def test_the_rules_catch_what_does_not_exist():
  assert not _module_exists("babycry_jax.no_such_command")
  assert not _exists("configs/no_such_config.py") and not _exists("no_such_module.py")
  assert _is_user_path("runs/x/eval") and _is_user_path("W/metrics.jsonl")
  assert not _is_user_path("configs/default.py")
  assert "missing-heading" not in _anchors(README)


def test_the_readme_links_every_docs_page():
  linked = {target.split("#")[0] for page, target in LINKS if page == README}
  for page in PAGES[1:]:
    assert f"docs/{page.name}" in linked, f"README does not link docs/{page.name}"


@pytest.mark.parametrize("title,anchor", [
    ("Headline: false alarms on sounds never heard in training",
     "headline-false-alarms-on-sounds-never-heard-in-training"),
    ("Cloud TPU: `launch.sh`", "cloud-tpu-launchsh"),
    ("What the recipe changed (2026-12-06)", "what-the-recipe-changed-2026-12-06"),
    ("Adding a feature, a model or a config", "adding-a-feature-a-model-or-a-config"),
    ("The [shipped](x.md) model_name", "the-shipped-model_name"),
])
def test_anchor_slugs_follow_github(title, anchor):
  assert _slug(title) == anchor


@pytest.mark.parametrize("page,target", LINKS, ids=[f"{p.name}:{t}" for p, t in LINKS])
def test_link_resolves(page, target):
  path, _, fragment = target.partition("#")
  file = (page.parent / path).resolve() if path else page
  relative = file.relative_to(ROOT).as_posix() if file.is_relative_to(ROOT) else str(file)
  assert file.exists(), f"{page.name}: link to {target}: no such file"
  if fragment:
    assert file.suffix == ".md", f"{page.name}: anchor #{fragment} into a file that is not markdown"
    assert fragment in _anchors(file), f"{page.name}: {target}: no such heading in {relative}"


@pytest.mark.parametrize("page,module", COMMANDS, ids=[f"{p.name}:{m}" for p, m in COMMANDS])
def test_python_m_names_a_module(page, module):
  assert _module_exists(module), (
      f"{page.name}: `python -m {module}`: no {module}.py or {module}/__main__.py")


@pytest.mark.parametrize("page,path", PATHS, ids=[f"{p.name}:{t}" for p, t in PATHS])
def test_path_exists(page, path):
  assert _exists(path), f"{page.name}: `{path}` does not exist in the repo"
