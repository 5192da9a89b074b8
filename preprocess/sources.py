"""Inputs of the preprocessing job: what to read, with which label and group.

Four input kinds become one list of `SourceItem`s:

* label folders: `<root>/crying/**` and `<root>/not_crying/**` (searched
  recursively, so `crying/hungry/x.wav` works);
* the study's layout: `<root>/3DCNN/{baby,other}/*.avi` and
  `<root>/SVM/{babywav,otherwav}/*.wav`. A WAV in `SVM/` that shares its
  number with an AVI in `3DCNN/` (`SVM/babywav/1022.wav` is the audio track of
  `3DCNN/baby/1022.avi`) is kept as its own audio-only record, but both files
  get the group `study:1022`, so the pair always lands in one split;
* a CSV manifest with a header `path,label[,start_s,end_s][,group]` (paths are
  relative to the CSV; further columns are ignored; several rows may name one
  file with different intervals);
* an AudioSet segment list (`YTID, start_s, end_s, "label ids"`, `#` comments)
  together with `media_dir`, a folder of already-downloaded media named
  `<YTID>.<ext>`. Nothing is downloaded; segments whose media is absent are
  returned as `MissingInput`s and end up in the errors report.

Group ids decide splits (see splits.py). By default a file is its own group;
a file named like the Donate-a-cry corpus (`<app-instance uuid>-<timestamp>-
...wav`) is grouped by the app instance, since one phone records one baby.
"""
from __future__ import annotations

import csv
import dataclasses
import os
import pathlib
import re
from typing import Optional

from babycry_jax.data import media_probe, schema, storage

AUDIOSET_CRYING_ID = "/t/dd00002"   # "Baby cry, infant cry"

_STUDY_FOLDERS = {
    ("3DCNN", "baby"): "crying",
    ("3DCNN", "other"): "not_crying",
    ("SVM", "babywav"): "crying",
    ("SVM", "otherwav"): "not_crying",
}
_UUID_PREFIX = re.compile(
    r"^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})-")
_LABEL_ALIASES = {"0": "not_crying", "1": "crying"}


class InputError(ValueError):
  """The input (folder, manifest or segment list) cannot be read as any known kind."""


@dataclasses.dataclass(frozen=True)
class Interval:
  """A labelled stretch of a recording, in seconds from the start of the file."""
  start_s: float
  end_s: float
  label: str


@dataclasses.dataclass(frozen=True)
class SourceItem:
  """One media file to cut into windows.

  Attributes:
    path: absolute path of the media file.
    source_id: stable, machine-independent name of the recording (a path
      relative to the input); clip ids are `<source_id>@<start ms>`.
    label: label of every window when `intervals` is empty.
    group: windows of one group never cross splits.
    intervals: when given, only these stretches are cut into windows, each
      window taking its interval's label.
    trimmed_ok: the media may already be cut to the interval (AudioSet
      downloads often hold only the 10 s segment); then the intervals are
      shifted to start at 0 when the file is no longer than the interval.
  """
  path: str
  source_id: str
  label: str
  group: str
  intervals: tuple[Interval, ...] = ()
  trimmed_ok: bool = False

  @property
  def labels(self) -> tuple[str, ...]:
    return tuple(i.label for i in self.intervals) if self.intervals else (self.label,)


@dataclasses.dataclass(frozen=True)
class MissingInput:
  """An input named by the list whose media could not be found."""
  path: str
  reason: str
  detail: str


@dataclasses.dataclass
class SourceList:
  kind: str                       # label_folders | study_layout | manifest | audioset
  items: list[SourceItem]
  missing: list[MissingInput]


def _interval_key(interval: Interval) -> tuple[float, float, str]:
  return (interval.start_s, interval.end_s, interval.label)


def app_instance_group(file_name: str) -> Optional[str]:
  """`device:<uuid>` for a Donate-a-cry style name `<app-instance uuid>-...`, else None."""
  match = _UUID_PREFIX.match(os.path.basename(file_name))
  return "device:" + match.group(1).lower() if match else None


def default_group(file_name: str, source_id: str) -> str:
  """The split group of a file: its app-instance uuid if it has one, else itself."""
  return app_instance_group(file_name) or source_id


def normalize_label(value: str, where: str) -> str:
  label = value.strip()
  label = _LABEL_ALIASES.get(label, label)
  if label not in schema.LABELS:
    raise InputError(f"{where}: unknown label {value!r}; use one of {list(schema.LABELS)} (or 0/1)")
  return label


def _is_media(path: pathlib.Path) -> bool:
  return (path.is_file() and path.suffix.lower() in media_probe.MEDIA_EXTENSIONS
          and not path.name.startswith("."))


def _media_files(folder: pathlib.Path) -> list[pathlib.Path]:
  return sorted(p for p in folder.rglob("*") if _is_media(p))


def _relative_id(path: pathlib.Path, root: pathlib.Path) -> str:
  return path.relative_to(root).as_posix()


def from_label_folders(root: pathlib.Path) -> list[SourceItem]:
  items = []
  for label in schema.LABELS:
    folder = root / label
    if not folder.is_dir():
      continue
    for path in _media_files(folder):
      source_id = _relative_id(path, root)
      items.append(SourceItem(path=str(path.resolve()), source_id=source_id, label=label,
                              group=default_group(path.name, source_id)))
  return items


def from_study_layout(root: pathlib.Path) -> list[SourceItem]:
  items = []
  for (top, sub), label in sorted(_STUDY_FOLDERS.items()):
    folder = root / top / sub
    if not folder.is_dir():
      continue
    for path in sorted(p for p in folder.iterdir() if _is_media(p)):
      # The study numbers clips once across its folders: same number, same clip.
      items.append(SourceItem(path=str(path.resolve()), source_id=_relative_id(path, root),
                              label=label, group=f"study:{path.stem}"))
  return items


def _optional_float(row: dict, key: str, where: str) -> Optional[float]:
  value = (row.get(key) or "").strip()
  if not value:
    return None
  try:
    return float(value)
  except ValueError:
    raise InputError(f"{where}: column {key!r} is not a number: {value!r}") from None


def from_manifest(csv_path: pathlib.Path) -> list[SourceItem]:
  """Reads `path,label[,start_s,end_s][,group]`; rows of one path are merged."""
  base = csv_path.parent
  rows_by_path: dict[str, list] = {}
  with open(csv_path, newline="") as f:
    reader = csv.DictReader(f)
    fields = [c.strip() for c in (reader.fieldnames or [])]
    reader.fieldnames = fields
    if "path" not in fields or "label" not in fields:
      raise InputError(f"{csv_path}: a manifest needs a header with 'path' and 'label' columns, got {fields}")
    for line_no, row in enumerate(reader, start=2):
      where = f"{csv_path}:{line_no}"
      raw_path = (row.get("path") or "").strip()
      if not raw_path:
        raise InputError(f"{where}: empty path")
      label = normalize_label(row.get("label") or "", where)
      start_s = _optional_float(row, "start_s", where)
      end_s = _optional_float(row, "end_s", where)
      if (start_s is None) != (end_s is None):
        raise InputError(f"{where}: give both start_s and end_s, or neither")
      if start_s is not None and not 0 <= start_s < end_s:
        raise InputError(f"{where}: need 0 <= start_s < end_s, got {start_s}, {end_s}")
      group = (row.get("group") or "").strip() or None
      rows_by_path.setdefault(raw_path, []).append((label, start_s, end_s, group, where))

  items = []
  for raw_path, rows in rows_by_path.items():
    # A URL (gs://...) stays one: the worker that decodes it fetches it (see decode_source).
    path = pathlib.PurePosixPath(raw_path) if storage.is_url(raw_path) else pathlib.Path(raw_path)
    if not storage.is_url(raw_path) and not path.is_absolute():
      path = base / path
    source_id = pathlib.PurePosixPath(raw_path.replace(os.sep, "/")).as_posix()
    with_interval = [r for r in rows if r[1] is not None]
    if with_interval and len(with_interval) != len(rows):
      raise InputError(f"{rows[0][4]}: {raw_path} has rows with and without start_s/end_s")
    groups = {r[3] for r in rows if r[3]}
    if len(groups) > 1:
      raise InputError(f"{rows[0][4]}: {raw_path} is given several groups {sorted(groups)}")
    group = groups.pop() if groups else default_group(path.name, source_id)
    intervals = tuple(sorted((Interval(s, e, lab) for lab, s, e, _, _ in with_interval),
                            key=_interval_key))
    items.append(SourceItem(path=raw_path if storage.is_url(raw_path) else str(path.resolve()),
                            source_id=raw_path if storage.is_url(raw_path) else source_id, label=rows[0][0],
                            group=group, intervals=intervals))
  return sorted(items, key=lambda i: i.source_id)


def _index_media(media_dir: pathlib.Path) -> dict[str, pathlib.Path]:
  by_stem: dict[str, pathlib.Path] = {}
  for path in _media_files(media_dir):
    # Prefer a container with video when one id was saved in several formats.
    previous = by_stem.get(path.stem)
    if previous is None or (previous.suffix.lower() in (".wav", ".ogg", ".mp3", ".flac")
                            and path.suffix.lower() not in (".wav", ".ogg", ".mp3", ".flac")):
      by_stem[path.stem] = path
  return by_stem


def parse_audioset_line(line: str, where: str) -> Optional[tuple[str, float, float, list[str]]]:
  """`YTID, start, end, "id1,id2"` -> (ytid, start_s, end_s, label ids); None for comments."""
  text = line.strip()
  if not text or text.startswith("#"):
    return None
  fields = next(csv.reader([text], skipinitialspace=True))
  if len(fields) < 4:
    raise InputError(f"{where}: expected 'YTID, start_s, end_s, \"label ids\"', got {text!r}")
  try:
    start_s, end_s = float(fields[1]), float(fields[2])
  except ValueError:
    raise InputError(f"{where}: start/end are not numbers in {text!r}") from None
  label_ids = [x.strip() for x in ",".join(fields[3:]).split(",") if x.strip()]
  return fields[0].strip(), start_s, end_s, label_ids


def from_audioset(list_path: pathlib.Path, media_dir: Optional[pathlib.Path]) -> tuple[list[SourceItem], list[MissingInput]]:
  if media_dir is None:
    raise InputError(f"{list_path} is an AudioSet segment list: pass --media_dir with the "
                     "downloaded media named <YouTube id>.<ext> (nothing is downloaded)")
  if not media_dir.is_dir():
    raise InputError(f"--media_dir {media_dir} is not a folder")
  media = _index_media(media_dir)
  segments: dict[str, list[Interval]] = {}
  with open(list_path) as f:
    for line_no, line in enumerate(f, start=1):
      parsed = parse_audioset_line(line, f"{list_path}:{line_no}")
      if parsed is None:
        continue
      ytid, start_s, end_s, label_ids = parsed
      label = "crying" if AUDIOSET_CRYING_ID in label_ids else "not_crying"
      segments.setdefault(ytid, []).append(Interval(start_s, end_s, label))
  items, missing = [], []
  for ytid in sorted(segments):
    intervals = tuple(sorted(segments[ytid], key=_interval_key))
    path = media.get(ytid)
    if path is None:
      for iv in intervals:
        missing.append(MissingInput(
            path=f"{media_dir}/{ytid}", reason="missing_media",
            detail=f"AudioSet segment {ytid} {iv.start_s:.3f}-{iv.end_s:.3f} s: no file named {ytid}.<ext> in --media_dir"))
      continue
    source_id = _relative_id(path, media_dir)
    items.append(SourceItem(path=str(path.resolve()), source_id=source_id, label=intervals[0].label,
                            group=f"youtube:{ytid}", intervals=intervals, trimmed_ok=True))
  return items, missing


def _sniff_list_kind(path: pathlib.Path) -> str:
  with open(path, newline="") as f:
    for line in f:
      text = line.strip()
      if not text or text.startswith("#"):
        continue
      header = [c.strip().lower() for c in next(csv.reader([text]))]
      if "path" in header and "label" in header:
        return "manifest"
      try:
        parse_audioset_line(text, str(path))
        return "audioset"
      except InputError:
        break
  raise InputError(f"{path}: neither a manifest (header 'path,label,...') nor an AudioSet "
                   "segment list ('YTID, start_s, end_s, \"label ids\"')")


def discover(input_path: str, media_dir: Optional[str] = None) -> SourceList:
  """Finds every input of a folder, manifest or AudioSet list.

  Args:
    input_path: a label-folder root, the study's folder, a CSV manifest or an
      AudioSet segment list.
    media_dir: folder of downloaded AudioSet media (only for segment lists).

  Returns:
    SourceList with items sorted by source_id and the missing inputs.
  Raises:
    InputError: the input does not exist, is of no known kind, or is empty.
  """
  path = pathlib.Path(input_path)
  if not path.exists():
    raise InputError(f"input {input_path} does not exist")
  missing: list[MissingInput] = []
  if path.is_dir():
    if any((path / top / sub).is_dir() for top, sub in _STUDY_FOLDERS):
      kind, items = "study_layout", from_study_layout(path)
    elif any((path / label).is_dir() for label in schema.LABELS):
      kind, items = "label_folders", from_label_folders(path)
    else:
      raise InputError(
          f"{input_path}: unknown folder layout; expected label folders "
          f"{'/, '.join(schema.LABELS)}/ or the study's 3DCNN/{{baby,other}} and SVM/{{babywav,otherwav}}")
  else:
    kind = _sniff_list_kind(path)
    if kind == "manifest":
      items = from_manifest(path)
    else:
      items, missing = from_audioset(path, pathlib.Path(media_dir) if media_dir else None)
  if not items and not missing:
    raise InputError(f"{input_path}: no media files found "
                     f"(extensions {', '.join(media_probe.MEDIA_EXTENSIONS)})")
  return SourceList(kind=kind, items=sorted(items, key=lambda i: i.source_id), missing=missing)
