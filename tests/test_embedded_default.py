"""Tests of the embedded default dataset generator, on a dozen real media clips."""
import collections
import os
import pathlib
import subprocess
import sys

import av
import cv2
import numpy as np
import pytest

from conftest import REPO_ROOT
from preprocess import clip_encoding, clip_format, synthetic_clips
from preprocess import embedded_media as embedded_default

NUM_CLIPS = 12


def _decode(path: pathlib.Path) -> dict:
  """Decodes a clip: gray frames [N, H, W] with their times, and mono audio."""
  frames, frame_times, audio = [], [], []
  with av.open(str(path)) as container:
    assert container.streams.video, f"{path} has no video stream"
    assert container.streams.audio, f"{path} has no audio stream"
    sample_rate = container.streams.audio[0].rate
    for frame in container.decode(video=0, audio=0):
      if isinstance(frame, av.VideoFrame):
        frames.append(frame.to_ndarray(format="gray"))
        frame_times.append(frame.time)
      else:
        audio.append(frame.to_ndarray().reshape(-1))
  return dict(frames=np.stack(frames), frame_times=np.array(frame_times),
              audio=np.concatenate(audio), sample_rate=sample_rate)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> tuple[pathlib.Path, list[dict]]:
  root = tmp_path_factory.mktemp("embedded") / "data"
  rows = embedded_default.generate(str(root), NUM_CLIPS, seed=0, workers=2, progress=False)
  return root, rows


def test_files_match_manifest(dataset):
  root, rows = dataset
  assert len(rows) == NUM_CLIPS
  assert rows == embedded_default.read_manifest(str(root))
  on_disk = sorted(str(p.relative_to(root)) for p in root.glob("*/*") if p.is_file())
  assert on_disk == sorted(r["path"] for r in rows)
  for r in rows:
    assert r["path"].startswith(r["label"] + "/"), r
    assert r["label"] == synthetic_clips.KINDS[r["kind"]].label, r
    assert r["group"] == pathlib.Path(r["path"]).stem, r
  labels = collections.Counter(r["label"] for r in rows)
  assert labels["crying"] >= 3 and labels["not_crying"] >= 3, labels
  extensions = collections.Counter(pathlib.Path(r["path"]).suffix for r in rows)
  assert set(extensions) == {".mp4", ".avi"}, extensions
  assert extensions[".avi"] == round(0.15 * NUM_CLIPS)
  assert len({r["group"] for r in rows}) == NUM_CLIPS
  # Nothing but the finished dataset is left in the parent directory.
  assert [p.name for p in root.parent.iterdir()] == ["data"]


def test_every_clip_decodes_to_four_seconds_of_video_and_audio(dataset):
  root, rows = dataset
  rates = set()
  for r in rows:
    clip = _decode(root / r["path"])
    frames, times = clip["frames"], clip["frame_times"]
    assert frames.shape[1:] == (clip_format.FRAME_HEIGHT, clip_format.FRAME_WIDTH)
    frame_s = np.median(np.diff(times))
    rates.add(round(1.0 / frame_s, 2))
    assert times[-1] + frame_s == pytest.approx(4.0, abs=0.05), r
    assert clip["sample_rate"] == 16000
    # Codecs pad the last audio frame; the track is 4 s to within that padding.
    assert clip["audio"].size / clip["sample_rate"] == pytest.approx(4.0, abs=0.15), r
    assert np.abs(clip["audio"]).max() > 1e-4, f"{r['path']} has a silent audio track"
  assert len(rates) >= 2, f"all clips share one frame rate: {rates}"


def test_same_seed_same_content_other_seed_differs(dataset, tmp_path):
  root, rows = dataset
  again = embedded_default.generate(str(tmp_path / "again"), NUM_CLIPS, seed=0, workers=1,
                                    progress=False)
  assert again == rows
  for r in rows[:4]:
    first, second = _decode(root / r["path"]), _decode(tmp_path / "again" / r["path"])
    np.testing.assert_array_equal(first["frames"], second["frames"])
    np.testing.assert_array_equal(first["audio"], second["audio"])
    assert (root / r["path"]).read_bytes() == (tmp_path / "again" / r["path"]).read_bytes()

  other = embedded_default.generate(str(tmp_path / "other"), 2, seed=1, workers=1,
                                    progress=False)
  assert [r["group"] for r in other] == ["s1_0000", "s1_0001"]
  # Clip 0 of seed 1 against clip 0 of seed 0: another scene, another sound.
  a = _decode(root / rows[0]["path"])
  b = _decode(tmp_path / "other" / other[0]["path"])
  n = min(a["audio"].size, b["audio"].size)
  assert not np.allclose(a["audio"][:n], b["audio"][:n], atol=1e-3)
  assert a["frames"].shape != b["frames"].shape or not np.array_equal(a["frames"], b["frames"])


def _mouth_darkness_and_audio_envelope(clip: dict) -> tuple[np.ndarray, np.ndarray]:
  """Per frame: how dark the most changing pixels are, and the audio RMS around it."""
  frames = clip["frames"].astype(np.float32)
  # The open mouth is the largest blob that changes over time; edges that
  # shift with head motion are thin, so blurring the change map favours the mouth.
  change = cv2.blur(frames.std(axis=0), (11, 11))
  y, x = np.unravel_index(np.argmax(change), change.shape)
  darkness = -frames[:, max(y - 5, 0):y + 6, max(x - 5, 0):x + 6].mean(axis=(1, 2))
  audio, sample_rate = clip["audio"], clip["sample_rate"]
  half = int(0.5 * sample_rate * np.median(np.diff(clip["frame_times"])))
  envelope = []
  for t in clip["frame_times"]:
    center = int(round(t * sample_rate))
    window = audio[max(center - half, 0):center + half + 1]
    envelope.append(np.sqrt(np.mean(window ** 2)) if window.size else 0.0)
  return darkness, np.array(envelope)


def test_crying_mouth_moves_in_sync_with_the_cry(dataset):
  root, rows = dataset
  cry_rows = [r for r in rows if r["kind"] == "cry_face"]
  assert cry_rows, "the dozen clips should include a plain crying face"
  for r in cry_rows:
    darkness, envelope = _mouth_darkness_and_audio_envelope(_decode(root / r["path"]))
    in_sync = np.corrcoef(darkness, envelope)[0, 1]
    # Half a second out of step the match must be clearly worse.
    shift = max(int(0.5 / 4.0 * darkness.size), 1)
    out_of_sync = np.corrcoef(darkness[shift:], envelope[:-shift])[0, 1]
    assert in_sync > 0.7, (r, in_sync)
    assert in_sync > out_of_sync + 0.2, (r, in_sync, out_of_sync)


def test_existing_dataset_is_reused_not_rebuilt(dataset, monkeypatch):
  root, rows = dataset

  def fail(*args, **kwargs):
    raise AssertionError("a finished dataset must not be rendered again")
  monkeypatch.setattr(synthetic_clips, "render_clip", fail)
  assert embedded_default.generate(str(root), NUM_CLIPS, seed=0, workers=1) == rows
  with pytest.raises(FileExistsError, match="made with"):
    embedded_default.generate(str(root), NUM_CLIPS, seed=5, workers=1)


def test_no_partial_output_appears(tmp_path, monkeypatch):
  output = tmp_path / "data"
  encode = clip_encoding.encode_clip
  calls = []

  def encode_then_fail(path, clip):
    assert not output.exists(), "output dir appeared before the dataset was complete"
    calls.append(path)
    encode(path, clip)
    if len(calls) == 2:
      raise RuntimeError("disk full")
  monkeypatch.setattr(clip_encoding, "encode_clip", encode_then_fail)
  with pytest.raises(RuntimeError, match="disk full"):
    embedded_default.generate(str(output), 4, seed=0, workers=1, progress=False)
  assert not output.exists()
  assert list(tmp_path.iterdir()) == [], "the temporary directory was left behind"

  monkeypatch.setattr(clip_encoding, "encode_clip", encode)
  calls.clear()
  embedded_default.generate(str(output), 2, seed=0, workers=1, progress=False)
  assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


def test_bad_requests_fail_clearly(tmp_path):
  with pytest.raises(ValueError, match="num_clips"):
    embedded_default.generate(str(tmp_path / "x"), 0)
  (tmp_path / "busy").mkdir()
  (tmp_path / "busy" / "notes.txt").write_text("mine")
  with pytest.raises(FileExistsError, match="not a finished"):
    embedded_default.generate(str(tmp_path / "busy"), 4)
  assert (tmp_path / "busy" / "notes.txt").read_text() == "mine"
  with pytest.raises(ValueError, match="unknown scene kind"):
    synthetic_clips.render_clip(0, 0, "cat_video")


def test_plan_shares_for_the_default_size():
  plan = embedded_default.plan_clips(600, seed=0)
  kinds = collections.Counter(p["kind"] for p in plan)
  for kind, clip_kind in synthetic_clips.KINDS.items():
    assert kinds[kind] == round(clip_kind.share * 600), kind
  crying = sum(p["label"] == "crying" for p in plan) / 600
  assert 0.4 <= crying <= 0.5
  assert sum(p["path"].endswith(".avi") for p in plan) == 90
  assert plan != embedded_default.plan_clips(600, seed=1)


def test_command_line(tmp_path):
  proc = subprocess.run([sys.executable, "-m", "preprocess.embedded_default", "--output",
                         str(tmp_path / "cli"), "--num_clips", "3", "--seed", "2", "--workers", "1"],
                        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr
  assert "3 clips" in proc.stdout
  rows = embedded_default.read_manifest(str(tmp_path / "cli"))
  assert len(rows) == 3 and all((tmp_path / "cli" / r["path"]).is_file() for r in rows)
  assert os.path.isfile(tmp_path / "cli" / embedded_default.MANIFEST_NAME)
