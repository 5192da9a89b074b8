"""Real-world recipe: `<shared>/real_audio` + `<shared>/real_world` -> a manifest -> a dataset dir.

Run by `python -m preprocess.real_world_recipe --shared ../shared/data --output data/real_world`.

What goes in (every window is real recorded sound; see shared/data READMEs):
  crying      Donate-a-cry (first 4 s of each 7 s phone recording; group: the
              app-instance uuid, one phone = one baby) and cry_extra's cry;
              plus one cry-in-background mixture per cry (mixing.mix_at_snr):
              the cry's last 4 s at a random SNR in a real background
              recording of the cry's own split, with a random gain and, half
              of the time, a random low- or high-pass filter (phone and room).
  not_crying  hard negatives in eight source groups (real_world_sources.SOURCE_GROUPS): human
              non-speech (ESC-50 laughing, coughing, snoring, ...), animals,
              domestic sounds (ESC-50 interior, building noise SNU-B36-50),
              urban, music, adult speech, children's speech, background noise.

Split groups: babies by app instance, speakers (speechocean762 and FSDD),
Freesound recordings of ESC-50 (`<fold>-<src_file>-<take>-<target>`: one
src_file, one group), SNU sessions (category + position), other files alone.

Why a mixture's background comes from its cry's split: a background heard in
training mixtures and again as a test negative would leak. Each cry gets exactly
one mixture in its own group, which doubles every cry group's weight and so
leaves the splitter's assignment (cumulative-weight cuts, see preprocess.splits)
unchanged; the recipe assigns splits once, picks backgrounds from the same split,
and records the split it expects in sources.csv.

Class balance: negatives are capped per source (CAPS: utterances per speaker,
clips per SNU session, windows per long file) so that they roughly match the
positives. The media dir holds manifest.csv, sources.csv (path, source group,
category, split expected), mixtures.csv (cry, background, SNR, gain, filter),
the mixture and FSDD WAV files, and recipe.json.
"""
from __future__ import annotations

import collections
import csv
import dataclasses
import hashlib
import json
import os
import pathlib
import random
import shutil
import tempfile
import wave
from typing import Callable, Optional

import numpy as np
import scipy.signal

from babycry_jax.data import media_audio, media_probe, schema
from preprocess import fsdd_concat, mixing, real_audio, recipe_inputs, splits
from preprocess.real_world_sources import ESC50_SOURCE_GROUP, REAL_AUDIO_SOURCE_GROUP

RECIPE_VERSION = 1
REAL_AUDIO_LINK, REAL_WORLD_LINK = "real_audio", "real_world"
MIX_OUT, FSDD_OUT = "cry_mixtures", "fsdd_concat"
MANIFEST_FILE, SOURCES_FILE, MIXTURES_FILE, RECIPE_FILE = (
    "manifest.csv", "sources.csv", "mixtures.csv", "recipe.json")

# Background recordings cries are mixed into (long, steady, no speech in the foreground).
MIX_BACKGROUND_FOLDERS = ("real_world/noise_backgrounds", "real_audio/household_speech/doing_the_dishes",
                          "real_audio/household_speech/exercise_bike", "real_world/snu_b36_50")


@dataclasses.dataclass(frozen=True)
class Caps:
  """Per-source limits that keep the negatives near the positives in number."""
  utterances_per_speaker: int = 5      # speechocean762 children and adults
  clips_per_snu_session: int = 4
  windows_per_long_file: int = 8
  fsdd_files: int = 60


@dataclasses.dataclass(frozen=True)
class MixRange:
  """How cry-in-background mixtures are drawn (uniform in each range)."""
  snr_db: tuple[float, float] = (-6.0, 12.0)    # DCASE 2017 task 2 used -6, 0 and 6 dB
  gain_db: tuple[float, float] = (-24.0, -1.0)  # peak level of the mixture
  filter_probability: float = 0.5
  lowpass_hz: tuple[float, float] = (1200.0, 3500.0)
  highpass_hz: tuple[float, float] = (80.0, 500.0)


@dataclasses.dataclass(frozen=True)
class Row:
  """One manifest file: path (relative to the media dir), label, split group, source group."""
  path: str
  label: str
  group: str
  source_group: str
  category: str
  intervals: tuple[tuple[float, float], ...]


class RecipeError(recipe_inputs.RecipeError):
  """The shared folder does not have the expected layout or content."""


def _folders(shared_dir: str | os.PathLike) -> tuple[pathlib.Path, pathlib.Path]:
  root = pathlib.Path(shared_dir)
  needed = ["real_audio/donateacry_cry", "real_audio/fsdd_speech", "real_world/esc50_other",
            "real_world/snu_b36_50", "real_world/child_speech", "real_world/adult_speech_l2",
            "real_world/noise_backgrounds", "real_world/cry_extra"]
  missing = [n for n in needed if not (root / n).is_dir()]
  if missing:
    raise RecipeError(f"{root}: expected the folders of shared/data (see its README); missing "
                      f"{', '.join(missing)}")
  return root / "real_audio", root / "real_world"


def _meta(folder: pathlib.Path) -> list[dict[str, str]]:
  with open(folder / "meta.csv", newline="") as f:
    return list(csv.DictReader(f))


def _first_window(duration_s: float, spec: schema.FeatureSpec) -> tuple[tuple[float, float], ...]:
  return recipe_inputs.window_intervals(duration_s, spec)[:1]


def _seeded_pick(items: list, count: int, seed: str) -> list:
  chosen = sorted(items)
  random.Random(seed).shuffle(chosen)
  return sorted(chosen[:count])


def _real_audio_group(stem: str) -> str:
  for prefix, source_group in REAL_AUDIO_SOURCE_GROUP.items():
    if stem.startswith(prefix):
      return source_group
  raise RecipeError(f"real_audio file {stem!r} has no source group in REAL_AUDIO_SOURCE_GROUP")


def _sha256(path: pathlib.Path) -> str:
  return hashlib.sha256(path.read_bytes()).hexdigest()


def negative_rows(real_audio_dir: pathlib.Path, real_world_dir: pathlib.Path,
                  spec: schema.FeatureSpec, caps: Caps, seed: int) -> list[Row]:
  """Every not_crying file of both corpora but FSDD, with its windows, capped per source."""
  rows: list[Row] = []
  for line in _meta(real_world_dir / "esc50_other"):
    src_file = pathlib.Path(line["file"]).stem.split("-")[1]
    rows.append(Row(f"{REAL_WORLD_LINK}/esc50_other/{line['file']}", "not_crying",
                    f"freesound:{src_file}", ESC50_SOURCE_GROUP[line["category"]],
                    f"esc50/{line['category']}", ((0.0, 4.0),)))
  sessions = collections.defaultdict(list)
  for line in _meta(real_world_dir / "snu_b36_50"):
    sessions[(line["category"], line["position"])].append(line)
  for (category, position), lines in sorted(sessions.items()):
    picked = _seeded_pick([l["file"] for l in lines], caps.clips_per_snu_session,
                          f"{seed}:snu:{category}:{position}")
    durations = {l["file"]: float(l["duration_s"]) for l in lines}
    rows += [Row(f"{REAL_WORLD_LINK}/snu_b36_50/{f}", "not_crying", f"snu:{category}/{position}",
                 "domestic", f"snu/{category}", _first_window(durations[f], spec)) for f in picked]
  for folder, source_group in (("child_speech", "children_speech"), ("adult_speech_l2", "adult_speech")):
    by_speaker = collections.defaultdict(list)
    for line in _meta(real_world_dir / folder):
      by_speaker[line["speaker"]].append(line)
    for speaker, lines in sorted(by_speaker.items()):
      durations = {l["file"]: float(l["duration_s"]) for l in lines}
      for f in _seeded_pick(list(durations), caps.utterances_per_speaker, f"{seed}:{speaker}"):
        rows.append(Row(f"{REAL_WORLD_LINK}/{folder}/{f}", "not_crying", f"speaker:{speaker}",
                        source_group, folder, _first_window(durations[f], spec)))
  long_files = [(REAL_WORLD_LINK, real_world_dir / "noise_backgrounds" / l["file"], "background_noise")
                for l in _meta(real_world_dir / "noise_backgrounds")]
  seen: set[str] = set()
  for folder in ("household_speech", "librosa_misc"):
    for path in sorted((real_audio_dir / folder).iterdir()):
      if path.suffix.lower() in (".wav", ".ogg") and _sha256(path) not in seen:
        seen.add(_sha256(path))   # librosa_misc holds one song twice
        long_files.append((REAL_AUDIO_LINK, path, _real_audio_group(path.stem)))
  for link, path, source_group in long_files:
    root = real_world_dir if link == REAL_WORLD_LINK else real_audio_dir
    intervals = recipe_inputs.window_intervals(media_probe.probe(str(path)).duration_s, spec)
    if intervals:
      rows.append(Row(f"{link}/{path.relative_to(root).as_posix()}", "not_crying",
                      f"file:{path.parent.name}/{path.stem}", source_group, path.parent.name,
                      intervals[:caps.windows_per_long_file]))
  no_cry = "cry_extra/no_cry_No_Crying_Github.flac"
  rows.append(Row(f"{REAL_WORLD_LINK}/{no_cry}", "not_crying", "file:cry_extra/no_cry",
                  "background_noise", "cry_extra", ((0.0, 4.0),)))
  return rows


def cry_rows(real_audio_dir: pathlib.Path, spec: schema.FeatureSpec) -> list[Row]:
  """Donate-a-cry's first windows and cry_extra's cry."""
  rows = []
  for path in sorted((real_audio_dir / "donateacry_cry").rglob("*.wav")):
    rows.append(Row(f"{REAL_AUDIO_LINK}/{path.relative_to(real_audio_dir).as_posix()}", "crying",
                    recipe_inputs.app_instance_group(path.name), "cry",
                    f"donateacry/{path.parent.name}", ((0.0, spec.window_s),)))
  rows.append(Row(f"{REAL_WORLD_LINK}/cry_extra/cry_Crying_Github.flac", "crying",
                  "file:cry_extra/cry", "cry", "cry_extra", ((0.0, spec.window_s),)))
  return rows


def _expected_splits(rows: list[Row], split_seed: int) -> dict[str, str]:
  group_labels = collections.defaultdict(list)
  for row in rows:
    group_labels[row.group] += [row.label] * len(row.intervals)
  return splits.assign_splits(group_labels, splits.DEFAULT_FRACTIONS, split_seed)


def _random_effects(audio: np.ndarray, rng: np.random.Generator, mix_range: MixRange,
                    sample_rate: int) -> tuple[np.ndarray, str]:
  """A random low- or high-pass (with mix_range.filter_probability), then a random peak level."""
  note = "none"
  if rng.random() < mix_range.filter_probability:
    if rng.random() < 0.5:
      cutoff = rng.uniform(*mix_range.lowpass_hz)
      sos, note = scipy.signal.butter(2, cutoff, "lowpass", fs=sample_rate, output="sos"), f"lowpass {cutoff:.0f} Hz"
    else:
      cutoff = rng.uniform(*mix_range.highpass_hz)
      sos, note = scipy.signal.butter(2, cutoff, "highpass", fs=sample_rate, output="sos"), f"highpass {cutoff:.0f} Hz"
    audio = scipy.signal.sosfilt(sos, audio).astype(np.float32)
  peak_db = rng.uniform(*mix_range.gain_db)
  audio = audio * np.float32(10.0 ** (peak_db / 20.0) / max(float(np.abs(audio).max()), 1e-9))
  return audio, f"{note}; peak {peak_db:.1f} dBFS"


def _write_wav(path: pathlib.Path, audio: np.ndarray, sample_rate: int) -> None:
  with wave.open(str(path), "wb") as w:
    w.setnchannels(1)
    w.setsampwidth(2)
    w.setframerate(sample_rate)
    w.writeframes(np.clip(np.round(audio * 32767), -32768, 32767).astype(np.int16).tobytes())


def mixture_rows(cries: list[Row], backgrounds: list[Row], expected: dict[str, str],
                 media_dir: pathlib.Path, spec: schema.FeatureSpec, mix_range: MixRange,
                 seed: int) -> tuple[list[Row], list[tuple]]:
  """One cry-in-background WAV per cry, its background drawn from the cry's split.

  Returns (manifest rows, mixtures.csv lines).
  """
  # split -> recording kind -> rows: a kind is drawn first, so the many short building-noise
  # clips do not crowd out the long household recordings.
  by_split = collections.defaultdict(lambda: collections.defaultdict(list))
  for row in backgrounds:
    by_split[expected[row.group]][row.category].append(row)
  (media_dir / MIX_OUT).mkdir()
  rows, provenance = [], []
  for k, cry in enumerate(cries):
    split = expected[cry.group]
    if not by_split[split]:
      raise RecipeError(f"no background recording landed in the {split} split to mix cries into")
    rng = np.random.default_rng([seed, k])
    kinds = sorted(by_split[split])
    pool = by_split[split][kinds[int(rng.integers(len(kinds)))]]
    background = pool[int(rng.integers(len(pool)))]
    # The cry's last window: not the window its own record already holds.
    cry_audio = media_audio.read_audio(str(media_dir / cry.path), spec.sample_rate)
    event = cry_audio[-spec.window_samples:]
    noise = media_audio.read_audio(str(media_dir / background.path), spec.sample_rate)
    snr_db = float(rng.uniform(*mix_range.snr_db))
    mix = mixing.mix_at_snr(event, noise, snr_db, seed=int(rng.integers(2**31)),
                            length=spec.window_samples)
    audio, effects = _random_effects(mix.audio, rng, mix_range, spec.sample_rate)
    name = f"{MIX_OUT}/mix_{k:04d}.wav"
    _write_wav(media_dir / name, audio, spec.sample_rate)
    rows.append(Row(name, "crying", cry.group, "cry_mixture", f"mix/{background.source_group}",
                    ((0.0, spec.window_s),)))
    provenance.append((name, cry.path, background.path, background.source_group,
                       f"{snr_db:.2f}", effects))
  return rows, provenance


def _write_csv(path: pathlib.Path, header, lines) -> None:
  with open(path, "w", newline="") as f:
    writer = csv.writer(f, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(lines)


def _fill(real_audio_dir, real_world_dir, target, spec, caps, mix_range, seed, split_seed):
  os.symlink(real_audio_dir.resolve(), target / REAL_AUDIO_LINK, target_is_directory=True)
  os.symlink(real_world_dir.resolve(), target / REAL_WORLD_LINK, target_is_directory=True)
  cries = cry_rows(real_audio_dir, spec)
  negatives = negative_rows(real_audio_dir, real_world_dir, spec, caps, seed)
  (target / FSDD_OUT).mkdir()
  written, _ = fsdd_concat.concatenate_fsdd(real_audio_dir / "fsdd_speech", target / FSDD_OUT,
                                            caps.fsdd_files, spec, seed=seed)
  negatives += [Row(f"{FSDD_OUT}/{name}", "not_crying", f"speaker:fsdd_{speaker}", "adult_speech",
                    "fsdd", ((0.0, spec.window_s),)) for name, speaker, _ in written]
  negatives = [r for r in negatives if r.intervals]
  # Mixtures double every cry group's weight, which leaves the assignment as it is.
  expected = _expected_splits(cries + cries + negatives, split_seed)
  backgrounds = [r for r in negatives if r.path.startswith(MIX_BACKGROUND_FOLDERS)]
  mixtures, provenance = mixture_rows(cries, backgrounds, expected, target, spec, mix_range, seed)
  rows = cries + mixtures + negatives
  _write_csv(target / MANIFEST_FILE, real_audio.MANIFEST_HEADER,
             [(r.path, r.label, f"{a:g}", f"{b:g}", r.group) for r in rows for a, b in r.intervals])
  _write_csv(target / SOURCES_FILE, ("path", "source_group", "category", "expected_split"),
             [(r.path, r.source_group, r.category, expected[r.group]) for r in rows])
  _write_csv(target / MIXTURES_FILE, ("file", "cry", "background", "background_group", "snr_db",
                                      "effects"), provenance)
  windows = collections.Counter()
  for r in rows:
    windows[(expected[r.group], r.source_group)] += len(r.intervals)
  return {"windows": {f"{s}/{g}": n for (s, g), n in sorted(windows.items())},
          "by_label": {lab: sum(len(r.intervals) for r in rows if r.label == lab)
                       for lab in schema.LABELS}}


def prepare_media(shared_dir: str | os.PathLike, media_dir: str | os.PathLike, *,
                  caps: Caps = Caps(), mix_range: MixRange = MixRange(), seed: int = 0,
                  split_seed: int = 0, overwrite: bool = False,
                  log: Callable[[str], None] = print) -> dict:
  """Writes manifest.csv, sources.csv, mixtures.csv and the made WAVs into media_dir.

  Reused as is when recipe.json shows the same parameters. Returns the summary
  (windows per expected split and source group, windows per label).
  """
  spec = schema.preset("paper")
  real_audio_dir, real_world_dir = _folders(shared_dir)
  media_dir = pathlib.Path(media_dir).absolute()
  parameters = {"version": RECIPE_VERSION, "shared": str(pathlib.Path(shared_dir).resolve()),
                "caps": dataclasses.asdict(caps), "mix_range": dataclasses.asdict(mix_range),
                "seed": seed, "split_seed": split_seed}
  if media_dir.exists():
    recipe = media_dir / RECIPE_FILE
    previous = json.loads(recipe.read_text()) if recipe.exists() else None
    if previous is not None and previous["parameters"] == parameters:
      log(f"real_world_recipe: reusing {media_dir} (same parameters)")
      return previous["summary"]
    if not overwrite:
      raise FileExistsError(f"{media_dir} exists and was made with other parameters; pass "
                            "--overwrite to replace it")
    shutil.rmtree(media_dir)
  media_dir.parent.mkdir(parents=True, exist_ok=True)
  tmp = pathlib.Path(tempfile.mkdtemp(prefix=f".{media_dir.name}.partial-", dir=media_dir.parent))
  try:
    summary = _fill(real_audio_dir, real_world_dir, tmp, spec, caps, mix_range, seed, split_seed)
    (tmp / RECIPE_FILE).write_text(json.dumps({"parameters": parameters, "summary": summary},
                                              indent=1))
    os.rename(tmp, media_dir)
  except BaseException:
    shutil.rmtree(tmp, ignore_errors=True)
    raise
  log(f"real_world_recipe: {summary['by_label']} windows in {media_dir / MANIFEST_FILE}")
  return summary


def read_sources(media_dir: str | os.PathLike) -> dict[str, dict[str, str]]:
  """path -> {source_group, category, expected_split} from sources.csv."""
  with open(pathlib.Path(media_dir) / SOURCES_FILE, newline="") as f:
    return {line["path"]: line for line in csv.DictReader(f)}


def build(shared_dir: str | os.PathLike, output_dir: str, media_dir: Optional[str] = None, *,
          seed: int = 0, split_seed: int = 0, overwrite: bool = False,
          direct_num_workers: int = 2, log: Callable[[str], None] = print) -> dict:
  """prepare_media, then the Beam job on its manifest (paper preset, group-aware splits)."""
  from preprocess import pipeline
  media_dir = media_dir or f"{os.path.normpath(output_dir)}_media"
  recipe = prepare_media(shared_dir, media_dir, seed=seed, split_seed=split_seed,
                         overwrite=overwrite, log=log)
  summary = pipeline.build_dataset(os.path.join(media_dir, MANIFEST_FILE), output_dir,
                                   schema.preset("paper"), seed=split_seed, overwrite=overwrite,
                                   direct_num_workers=direct_num_workers, log=log)
  return dict(summary, recipe=recipe)
