"""Input discovery: label folders, the study's layout, manifests, AudioSet lists."""
import pathlib

import pytest

from preprocess import sources


def _touch(path: pathlib.Path, data: bytes = b"x") -> pathlib.Path:
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_bytes(data)
  return path


def test_study_layout_groups_wav_with_its_avi(shared_data):
  found = sources.discover(str(shared_data / "seed_samples"))
  assert found.kind == "study_layout"
  by_id = {item.source_id: item for item in found.items}
  assert by_id["3DCNN/baby/1022.avi"].label == "crying"
  assert by_id["3DCNN/other/1654.avi"].label == "not_crying"
  assert by_id["SVM/otherwav/1651.wav"].label == "not_crying"
  # 1022.wav is the audio of 1022.avi: one group, so never in two splits.
  assert by_id["SVM/babywav/1022.wav"].group == by_id["3DCNN/baby/1022.avi"].group
  assert by_id["SVM/babywav/1001.wav"].group != by_id["3DCNN/baby/1016.avi"].group
  assert len(found.items) == 11 and not found.missing


def test_label_folders_recursive_and_device_groups(tmp_path):
  uuid = "549a46d8-9c84-430e-ade8-97eae2bef787"
  _touch(tmp_path / "crying" / "hungry" / f"{uuid}-1430130772174-1.7-m-48-hu.wav")
  _touch(tmp_path / "crying" / "tired" / f"{uuid.upper()}-1430130799999-1.7-m-48-ti.wav")
  _touch(tmp_path / "crying" / "a.mp4")
  _touch(tmp_path / "not_crying" / "b.WEBM")
  _touch(tmp_path / "not_crying" / "notes.txt")
  found = sources.discover(str(tmp_path))
  assert found.kind == "label_folders"
  ids = [i.source_id for i in found.items]
  assert ids == sorted(ids) and len(ids) == 4 and "not_crying/notes.txt" not in ids
  groups = {i.source_id: i.group for i in found.items}
  device_groups = {g for s, g in groups.items() if "hungry" in s or "tired" in s}
  assert device_groups == {f"device:{uuid}"}
  assert groups["crying/a.mp4"] == "crying/a.mp4"
  assert {i.label for i in found.items if i.source_id.startswith("not_crying")} == {"not_crying"}


def test_manifest_with_intervals_and_groups(tmp_path):
  _touch(tmp_path / "media" / "long.wav")
  _touch(tmp_path / "media" / "short.mp4")
  manifest = tmp_path / "list.csv"
  manifest.write_text(
      "path,label,start_s,end_s,group,comment\n"
      "media/long.wav,crying,10,20,,ignored\n"
      "media/long.wav,not_crying,0,8,,\n"
      "media/short.mp4,0,,,family1,\n")
  found = sources.discover(str(manifest))
  assert found.kind == "manifest"
  long_item, short_item = found.items
  assert long_item.path == str((tmp_path / "media" / "long.wav").resolve())
  assert [(i.start_s, i.end_s, i.label) for i in long_item.intervals] == [
      (0.0, 8.0, "not_crying"), (10.0, 20.0, "crying")]
  assert long_item.labels == ("not_crying", "crying")
  assert short_item.label == "not_crying" and short_item.group == "family1" and not short_item.intervals


@pytest.mark.parametrize("body, message", [
    ("file,label\na.wav,crying\n", "header"),
    ("path,label\na.wav,maybe\n", "unknown label"),
    ("path,label,start_s,end_s\na.wav,crying,5,\n", "both start_s and end_s"),
    ("path,label,start_s,end_s\na.wav,crying,5,2\n", "start_s < end_s"),
])
def test_manifest_errors_say_where(tmp_path, body, message):
  manifest = tmp_path / "bad.csv"
  manifest.write_text(body)
  with pytest.raises(sources.InputError, match=message):
    sources.discover(str(manifest))


def test_audioset_list_with_partial_media(shared_data, tmp_path):
  segment_list = shared_data / "seed_samples" / "audioset_baby_cry_segments.txt"
  lines = [l for l in segment_list.read_text().splitlines() if l.strip() and not l.startswith("#")]
  present_id = lines[3].split(",")[0]
  _touch(tmp_path / "media" / f"{present_id}.mp4")
  found = sources.discover(str(segment_list), media_dir=str(tmp_path / "media"))
  assert found.kind == "audioset"
  assert [i.source_id for i in found.items] == [f"{present_id}.mp4"]
  item = found.items[0]
  assert item.label == "crying" and item.trimmed_ok and item.group == f"youtube:{present_id}"
  assert item.intervals[0].end_s - item.intervals[0].start_s == pytest.approx(10.0)
  assert len(found.missing) == len(lines) - 1
  assert {m.reason for m in found.missing} == {"missing_media"}


def test_audioset_comments_and_non_crying_label(tmp_path):
  segment_list = tmp_path / "segments.csv"
  segment_list.write_text(
      "# Segments csv created Sun Mar  5 10:54:31 2017\n"
      "# YTID, start_seconds, end_seconds, positive_labels\n"
      'abcdefghijk, 30.000, 40.000, "/m/09x0r,/t/dd00002"\n'
      'zyxwvutsrqp, 0.000, 10.000, "/m/04rlf"\n')
  _touch(tmp_path / "m" / "abcdefghijk.wav")
  _touch(tmp_path / "m" / "zyxwvutsrqp.webm")
  found = sources.discover(str(segment_list), media_dir=str(tmp_path / "m"))
  assert {i.source_id: i.label for i in found.items} == {
      "abcdefghijk.wav": "crying", "zyxwvutsrqp.webm": "not_crying"}
  with pytest.raises(sources.InputError, match="--media_dir"):
    sources.discover(str(segment_list))


def test_unknown_inputs_are_rejected(tmp_path):
  with pytest.raises(sources.InputError, match="does not exist"):
    sources.discover(str(tmp_path / "nope"))
  (tmp_path / "random").mkdir()
  with pytest.raises(sources.InputError, match="unknown folder layout"):
    sources.discover(str(tmp_path / "random"))
  (tmp_path / "crying").mkdir()
  with pytest.raises(sources.InputError, match="no media files"):
    sources.discover(str(tmp_path))
