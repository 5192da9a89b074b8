"""Real-audio recipe: the corpora of `<shared>/real_audio` -> a CSV manifest -> a dataset dir.

Run by `python -m preprocess.real_audio_recipe --shared ../shared/data --output data/real_audio`.

Labels and split groups:
  crying      donateacry_cry/<reason>/*.wav (7 s phone recordings), the first
              window of each (manifest interval 0-4 s); group: the app-instance
              uuid that starts the file name (one phone, one baby).
  not_crying  household_speech/* and librosa_misc/*.ogg (each file its own group,
              cut into many windows when long), and fsdd_speech/ spoken digits;
              group: the speaker.

Why only the first window of a cry: the pipeline would turn the 3 s tail of a
7 s file into a second, padded window, and then almost every padded window
would be a cry (padding loops the content, so it shows less, but the recipe
keeps to full windows for positives all the same).

FSDD clips last 0.1-2.3 s, most of them less than the pipeline's 1 s minimum, so
they are concatenated, not padded: clips of one speaker, in a seeded random
order, are joined with a short silence until they fill one window, and the
file is cut to exactly one window (so no FSDD window is padded either; see
preprocess.fsdd_concat). Those
files are written under the media dir (nothing else is copied;
the corpora are reached through a symlink, so source ids read
`real_audio/donateacry_cry/...`). Which clips went into which file is listed
in fsdd_concat/sources.csv.

Balance: only as many FSDD files are made as bring the not_crying windows up
to the crying windows (counted the way the pipeline cuts them), spread evenly
over the speakers and drawn in a seeded order, instead of letting 3000 digits
dominate the negatives. Short household files and the tails of long files are
still padded by the pipeline (short_policy "pad"), marked `padded`.
Files with identical content (librosa_misc has one song twice) are kept once.

The media dir holds manifest.csv, recipe.json (the parameters and counts) and
the FSDD files; it is written to a temporary name and renamed when complete,
and reused when its parameters match.
"""
from __future__ import annotations

import collections
import csv
import dataclasses
import hashlib
import io
import json
import os
import pathlib
import shutil
import tempfile
from typing import Callable, Iterable, Optional, Sequence

from babycry_jax.data import schema
from preprocess.fsdd_concat import concatenate_fsdd
from preprocess.recipe_inputs import RecipeError, app_instance_group, window_intervals

CRY_FOLDER = "donateacry_cry"
FSDD_FOLDER = "fsdd_speech"
OTHER_FOLDERS = ("household_speech", "librosa_misc")
MEDIA_LINK = "real_audio"            # symlink in the media dir to <shared>/real_audio
FSDD_OUT = "fsdd_concat"
MANIFEST_FILE = "manifest.csv"
MANIFEST_HEADER = ("path", "label", "start_s", "end_s", "group")
RECIPE_FILE = "recipe.json"
RECIPE_VERSION = 2

_AUDIO_EXTENSIONS = (".wav", ".ogg", ".flac", ".mp3")


@dataclasses.dataclass(frozen=True)
class ManifestRow:
  """One manifest line: a media path (relative to the manifest), its label and group."""
  path: str
  label: str
  group: str
  # (start_s, end_s) of each window, one manifest line each: the splitter
  # weighs a group by its lines, so a long file weighs as many windows as it gives.
  intervals: tuple[tuple[float, float], ...]

  @property
  def windows(self) -> int:
    return len(self.intervals)


@dataclasses.dataclass
class Recipe:
  """What prepare_media wrote: the manifest, its rows and a summary."""
  media_dir: str
  manifest_path: str
  rows: list[ManifestRow]
  summary: dict


def _real_audio_dir(shared_dir: str | os.PathLike) -> pathlib.Path:
  root = pathlib.Path(shared_dir)
  real_audio = root / "real_audio" if (root / "real_audio").is_dir() else root
  missing = [f for f in (CRY_FOLDER, FSDD_FOLDER) if not (real_audio / f).is_dir()]
  if missing:
    raise RecipeError(f"{real_audio}: expected the folders {CRY_FOLDER}/ and {FSDD_FOLDER}/ "
                      f"(see shared/data/README.md); missing {', '.join(missing)}")
  return real_audio


def _audio_files(folder: pathlib.Path) -> list[pathlib.Path]:
  return sorted(p for p in folder.rglob("*")
                if p.is_file() and p.suffix.lower() in _AUDIO_EXTENSIONS and not p.name.startswith("."))


def _sha256(path: pathlib.Path) -> str:
  digest = hashlib.sha256()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      digest.update(block)
  return digest.hexdigest()


def _duration_s(path: pathlib.Path) -> float:
  from babycry_jax.data import media_probe
  try:
    return media_probe.probe(str(path)).duration_s
  except media_probe.MediaError as e:
    raise RecipeError(f"{path}: cannot be read as audio ({e})") from None


def _linked(path: pathlib.Path, real_audio: pathlib.Path) -> str:
  return f"{MEDIA_LINK}/{path.relative_to(real_audio).as_posix()}"


def _unique_content(paths: Iterable[pathlib.Path], seen: dict[str, str],
                    real_audio: pathlib.Path) -> tuple[list[pathlib.Path], list[dict]]:
  kept, dropped = [], []
  for path in paths:
    digest = _sha256(path)
    rel = path.relative_to(real_audio).as_posix()
    if digest in seen:
      dropped.append({"path": rel, "same_content_as": seen[digest]})
      continue
    seen[digest] = rel
    kept.append(path)
  return kept, dropped


def _write_csv_atomic(path: pathlib.Path, header: Sequence[str], rows: Iterable[Sequence]) -> None:
  buffer = io.StringIO()
  writer = csv.writer(buffer, lineterminator="\n")
  writer.writerow(header)
  writer.writerows(rows)
  tmp = path.with_name(f".{path.name}.tmp")
  tmp.write_text(buffer.getvalue())
  os.replace(tmp, path)


def _fill_media_dir(real_audio: pathlib.Path, target: pathlib.Path, spec: schema.FeatureSpec,
                    fsdd_windows: Optional[int], seed: int,
                    log: Callable[[str], None]) -> tuple[list[ManifestRow], dict]:
  os.symlink(real_audio.resolve(), target / MEDIA_LINK, target_is_directory=True)
  seen: dict[str, str] = {}
  rows: list[ManifestRow] = []

  cries, dropped = _unique_content(_audio_files(real_audio / CRY_FOLDER), seen, real_audio)
  if not cries:
    raise RecipeError(f"{real_audio / CRY_FOLDER}: no audio files")
  for path in cries:
    first = window_intervals(_duration_s(path), spec)[:1]
    rows.append(ManifestRow(_linked(path, real_audio), "crying", app_instance_group(path.name), first))

  for folder in OTHER_FOLDERS:
    if not (real_audio / folder).is_dir():
      log(f"real_audio_recipe: {real_audio / folder} is absent; going on without it")
      continue
    others, more_dropped = _unique_content(_audio_files(real_audio / folder), seen, real_audio)
    dropped += more_dropped
    for path in others:
      rows.append(ManifestRow(_linked(path, real_audio), "not_crying",
                              f"file:{folder}/{path.stem}", window_intervals(_duration_s(path), spec)))

  crying_windows = sum(r.windows for r in rows if r.label == "crying")
  other_windows = sum(r.windows for r in rows if r.label == "not_crying")
  wanted = max(0, crying_windows - other_windows) if fsdd_windows is None else fsdd_windows
  (target / FSDD_OUT).mkdir()
  fsdd_rows: list[ManifestRow] = []
  provenance = []
  if wanted:
    written, available = concatenate_fsdd(real_audio / FSDD_FOLDER, target / FSDD_OUT, wanted, spec,
                                          seed=seed)
    for name, speaker, clips in written:
      fsdd_rows.append(ManifestRow(f"{FSDD_OUT}/{name}", "not_crying", f"speaker:{speaker}",
                                   ((0.0, spec.window_s),)))
      provenance.append((name, speaker, " ".join(clips)))
  else:
    available = {}
  _write_csv_atomic(target / FSDD_OUT / "sources.csv", ("file", "speaker", "clips"), provenance)
  rows += fsdd_rows

  too_short = [r.path for r in rows if not r.intervals]
  rows = [r for r in rows if r.intervals]   # the pipeline would reject them as too short
  _write_csv_atomic(target / MANIFEST_FILE, MANIFEST_HEADER,
                    [line for r in rows for line in manifest_lines(r)])
  summary = summarize(rows)
  summary.update(fsdd_windows_wanted=wanted, fsdd_clips_available=available,
                 fsdd_clips_used=sum(len(c.split()) for _, _, c in provenance),
                 dropped_duplicates=dropped, too_short=too_short)
  return rows, summary


def manifest_lines(row: ManifestRow) -> list[tuple[str, str, str, str, str]]:
  """(path, label, start_s, end_s, group) lines of a row, one per window."""
  return [(row.path, row.label, f"{start_s:g}", f"{end_s:g}", row.group)
          for start_s, end_s in row.intervals]


def summarize(rows: Sequence[ManifestRow]) -> dict:
  """Files, groups and expected windows per label, and files per source folder."""
  by_label = {}
  for label in schema.LABELS:
    mine = [r for r in rows if r.label == label]
    by_label[label] = {"files": len(mine), "groups": len({r.group for r in mine}),
                       "windows": sum(r.windows for r in mine)}
  folders = collections.Counter(
      r.path.split("/")[1] if r.path.startswith(MEDIA_LINK + "/") else r.path.split("/")[0]
      for r in rows)
  return {"by_label": by_label, "files_by_folder": dict(sorted(folders.items()))}


def _parameters(real_audio: pathlib.Path, spec: schema.FeatureSpec, fsdd_windows: Optional[int],
                seed: int) -> dict:
  return {"version": RECIPE_VERSION, "real_audio": str(real_audio.resolve()),
          "window_s": spec.window_s, "hop_s": spec.hop_s, "min_duration_s": spec.min_duration_s,
          "short_policy": spec.short_policy, "fsdd_windows": fsdd_windows, "seed": seed}


def prepare_media(shared_dir: str | os.PathLike, media_dir: str | os.PathLike, *,
                  spec: Optional[schema.FeatureSpec] = None, fsdd_windows: Optional[int] = None,
                  seed: int = 0, overwrite: bool = False,
                  log: Callable[[str], None] = print) -> Recipe:
  """Writes the manifest (and the concatenated FSDD files) into media_dir.

  Args:
    shared_dir: `shared/data` (or its `real_audio` folder itself).
    media_dir: folder to create; reused as is when made with the same parameters.
    spec: feature spec whose window_s/hop_s/min_duration_s decide window counts.
    fsdd_windows: FSDD windows to add; None balances not_crying against crying.
    seed: FSDD clip order.
    overwrite: replace a media_dir made with other parameters.
    log: where the summary goes.

  Returns:
    Recipe with the manifest path, its rows and recipe.json's summary.
  Raises:
    RecipeError: the shared folder lacks the corpora or holds unreadable files.
    FileExistsError: media_dir exists with other parameters and overwrite is False.
  """
  spec = spec or schema.preset("paper")
  real_audio = _real_audio_dir(shared_dir)
  media_dir = pathlib.Path(media_dir).absolute()
  parameters = _parameters(real_audio, spec, fsdd_windows, seed)
  recipe_path = media_dir / RECIPE_FILE
  if media_dir.exists():
    previous = json.loads(recipe_path.read_text()) if recipe_path.exists() else None
    if previous is not None and previous["parameters"] == parameters:
      rows = read_manifest(media_dir / MANIFEST_FILE)
      log(f"real_audio_recipe: reusing {media_dir} (same parameters)")
      return Recipe(str(media_dir), str(media_dir / MANIFEST_FILE), rows, previous["summary"])
    if not overwrite:
      raise FileExistsError(f"{media_dir} exists and was made with other parameters (or is not a "
                            "recipe folder); pass --overwrite to replace it")
  media_dir.parent.mkdir(parents=True, exist_ok=True)
  tmp = pathlib.Path(tempfile.mkdtemp(prefix=f".{media_dir.name}.partial-", dir=media_dir.parent))
  try:
    rows, summary = _fill_media_dir(real_audio, tmp, spec, fsdd_windows, seed, log)
    (tmp / RECIPE_FILE).write_text(json.dumps({"parameters": parameters, "summary": summary},
                                              indent=2))
    if media_dir.exists():
      trash = media_dir.with_name(f".{media_dir.name}.old-{os.getpid()}")
      os.rename(media_dir, trash)
      os.rename(tmp, media_dir)
      shutil.rmtree(trash, ignore_errors=True)
    else:
      os.rename(tmp, media_dir)
  except BaseException:
    shutil.rmtree(tmp, ignore_errors=True)
    raise
  log(format_summary(summary, str(media_dir / MANIFEST_FILE)))
  return Recipe(str(media_dir), str(media_dir / MANIFEST_FILE), rows, summary)


def read_manifest(path: str | os.PathLike) -> list[ManifestRow]:
  """The rows of a manifest written by prepare_media, its lines merged per file."""
  merged: dict[str, ManifestRow] = {}
  with open(path, newline="") as f:
    for line in csv.DictReader(f):
      interval = (float(line["start_s"]), float(line["end_s"]))
      previous = merged.get(line["path"])
      intervals = (previous.intervals if previous else ()) + (interval,)
      merged[line["path"]] = ManifestRow(line["path"], line["label"], line["group"], intervals)
  return list(merged.values())


def format_summary(summary: dict, manifest_path: str) -> str:
  lines = [f"manifest written to {manifest_path}",
           f"{'label':<11} {'files':>6} {'groups':>7} {'windows':>8}"]
  for label, info in summary["by_label"].items():
    lines.append(f"{label:<11} {info['files']:>6} {info['groups']:>7} {info['windows']:>8}")
  lines.append("files by folder: " + ", ".join(f"{k} {v}" for k, v in summary["files_by_folder"].items()))
  lines.append(f"FSDD: {summary['fsdd_clips_used']} clips concatenated into "
               f"{summary['files_by_folder'].get(FSDD_OUT, 0)} files")
  if summary.get("too_short"):
    lines.append(f"left out (shorter than the pipeline's minimum): {', '.join(summary['too_short'])}")
  if summary["dropped_duplicates"]:
    lines.append("dropped (same content as a kept file): "
                 + ", ".join(d["path"] for d in summary["dropped_duplicates"]))
  return "\n".join(lines)


def build(shared_dir: str | os.PathLike, output_dir: str, media_dir: Optional[str] = None, *,
          fsdd_windows: Optional[int] = None, seed: int = 0, split_seed: int = 0,
          overwrite: bool = False, direct_num_workers: int = 2,
          log: Callable[[str], None] = print) -> dict:
  """prepare_media, then the Beam job on its manifest (paper preset, group-aware splits).

  Returns:
    build_dataset's summary plus "recipe" (prepare_media's summary).
  """
  from preprocess import pipeline
  media_dir = media_dir or f"{os.path.normpath(output_dir)}_media"
  recipe = prepare_media(shared_dir, media_dir, fsdd_windows=fsdd_windows, seed=seed,
                         overwrite=overwrite, log=log)
  summary = pipeline.build_dataset(recipe.manifest_path, output_dir, schema.preset("paper"),
                                   seed=split_seed, overwrite=overwrite,
                                   direct_num_workers=direct_num_workers, log=log)
  return dict(summary, recipe=recipe.summary)
