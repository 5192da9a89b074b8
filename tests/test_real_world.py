"""The real-world recipe's manifest: group-aware, balanced, every source group present, and
every cry mixed into a background recording of its own split."""
import collections
import csv

import pytest

from preprocess import real_world, real_world_sources


@pytest.fixture(scope="module")
def media_dir(tmp_path_factory):
  import pathlib
  from conftest import SHARED_DATA
  if not SHARED_DATA.is_dir():
    pytest.skip(f"real media folder {SHARED_DATA} is absent (only the project's own machines have it)")
  target = tmp_path_factory.mktemp("rw") / "media"
  real_world.prepare_media(SHARED_DATA, target, log=lambda _: None)
  return pathlib.Path(target)


def _csv(path):
  with open(path, newline="") as f:
    return list(csv.DictReader(f))


def test_groups_never_cross_splits_and_labels_are_balanced(media_dir):
  manifest = _csv(media_dir / real_world.MANIFEST_FILE)
  sources = real_world.read_sources(media_dir)
  split_of_group = collections.defaultdict(set)
  for line in manifest:
    split_of_group[line["group"]].add(sources[line["path"]]["expected_split"])
  assert all(len(s) == 1 for s in split_of_group.values())
  labels = collections.Counter(line["label"] for line in manifest)
  assert abs(labels["crying"] - labels["not_crying"]) < 0.1 * len(manifest)
  present = {s["source_group"] for s in sources.values()}
  assert set(real_world_sources.SOURCE_GROUPS) <= present
  # Laughing, coughing and snoring are there as hard negatives.
  categories = {s["category"] for s in sources.values()}
  assert {"esc50/laughing", "esc50/coughing", "esc50/snoring", "esc50/cat", "esc50/siren"} <= categories


def test_each_cry_has_one_mixture_with_a_background_of_its_split(media_dir):
  sources = real_world.read_sources(media_dir)
  mixtures = _csv(media_dir / real_world.MIXTURES_FILE)
  cries = [p for p, s in sources.items() if s["source_group"] == "cry"]
  assert len(mixtures) == len(cries) == len({m["cry"] for m in mixtures})
  for m in mixtures:
    assert sources[m["background"]]["expected_split"] == sources[m["cry"]]["expected_split"]
    assert sources[m["file"]]["expected_split"] == sources[m["cry"]]["expected_split"]
    assert -6.0 <= float(m["snr_db"]) <= 12.0
