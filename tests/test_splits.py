"""Group-aware deterministic splits."""
import pytest

from preprocess import splits


def _groups(num_crying: int, num_other: int, per_group: int = 1) -> dict:
  groups = {f"cry{i}": ["crying"] * per_group for i in range(num_crying)}
  groups.update({f"other{i}": ["not_crying"] * per_group for i in range(num_other)})
  return groups


def test_deterministic_and_seed_dependent():
  groups = _groups(40, 60)
  first = splits.assign_splits(groups, seed=3)
  assert first == splits.assign_splits(dict(reversed(list(groups.items()))), seed=3)
  assert first != splits.assign_splits(groups, seed=4)
  assert set(first) == set(groups)


def test_fractions_are_close_per_label():
  groups = _groups(200, 300)
  counts = splits.split_counts(splits.assign_splits(groups, (0.7, 0.15, 0.15), seed=0), groups)
  for label, total in (("crying", 200), ("not_crying", 300)):
    assert counts["train"][label] == pytest.approx(0.7 * total, abs=2)
    assert counts["validation"][label] == pytest.approx(0.15 * total, abs=2)
    assert counts["test"][label] == pytest.approx(0.15 * total, abs=2)


def test_group_weight_counts():
  # One heavy group of 8 units plus 8 single ones: the heavy one fills most of its share.
  groups = {"big": ["crying"] * 8}
  groups.update({f"s{i}": ["crying"] for i in range(8)})
  assignment = splits.assign_splits(groups, (0.5, 0.25, 0.25), seed=1)
  counts = splits.split_counts(assignment, groups)
  assert sum(counts[s]["crying"] for s in splits.SPLITS) == 16
  assert all(counts[s]["crying"] > 0 for s in splits.SPLITS)


def test_small_datasets_get_validation_and_test():
  groups = _groups(3, 3)
  counts = splits.split_counts(splits.assign_splits(groups, seed=0), groups)
  for split in splits.SPLITS:
    assert counts[split] == {"not_crying": 1, "crying": 1}
  # Two groups cannot fill three splits, but they still go to two different ones.
  two = sorted(splits.assign_splits(_groups(2, 0), seed=0).values())
  assert two[0] != two[1] and "train" in two


def test_zero_fraction_split_stays_empty():
  groups = _groups(10, 10)
  assignment = splits.assign_splits(groups, (0.8, 0.0, 0.2), seed=0)
  assert "validation" not in assignment.values()


def test_mixed_group_goes_by_majority_and_stays_whole():
  groups = {"mixed": ["crying", "crying", "not_crying"], **_groups(5, 5)}
  assignment = splits.assign_splits(groups, seed=2)
  assert assignment["mixed"] in splits.SPLITS


@pytest.mark.parametrize("text", ["0.7,0.3", "0.5,0.5,0.5", "0,0.5,0.5", "-0.1,0.6,0.5"])
def test_bad_fractions(text):
  with pytest.raises(ValueError, match="fraction"):
    splits.parse_fractions(text)
