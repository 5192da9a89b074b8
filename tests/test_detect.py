"""Detection on raw media: windows, modalities, outputs, bad files, equality with records."""
import copy
import fractions
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import synthetic_dataset
from babycry_jax import detection, detection_files, segments, trainer
from babycry_jax.data import schema
from babycry_jax.data.example_decoder import ExampleDecoder
from configs import default

PAPER = schema.preset("paper")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def fusion_run(tmp_path_factory) -> str:
  """A tiny audio+video fusion model trained one epoch on a paper-spec dataset."""
  root = tmp_path_factory.mktemp("detect_run")
  dataset_dir = synthetic_dataset.write(str(root / "dataset"), sizes={"train": 16, "validation": 8, "test": 8},
                                        spec=PAPER, num_shards=1)
  config = default.get_config()
  config.dataset_dir = dataset_dir
  config.model = "fusion_cnn_cnn_fc"
  config.model_kwargs = dict(num_segments=1, conv_features=(4, 4), segment_dense=8,
                             dense_features=(8,), dropout_rates=(0.0,))
  config.audio_frames = 40
  config.video_frames = 3
  config.batch_size = 16
  config.num_epochs = 1
  workdir = str(root / "run")
  trainer.train_and_evaluate(config, workdir)
  return workdir


@pytest.fixture(scope="module")
def detector(fusion_run) -> detection.Detector:
  return detection.Detector(fusion_run, batch_size=8)


def write_mp4(path: pathlib.Path, duration_s: float, fps: int = 10, sample_rate: int = 8000) -> pathlib.Path:
  """An H.264 + AAC MP4 written with PyAV: a moving square and a 440 Hz tone."""
  import av
  with av.open(str(path), mode="w", format="mp4") as container:
    video = container.add_stream("libx264", rate=fps, options={"preset": "ultrafast"})
    video.width, video.height, video.pix_fmt = 96, 64, "yuv420p"
    audio = container.add_stream("aac", rate=sample_rate, layout="mono")
    for i in range(int(duration_s * fps)):
      img = np.full((64, 96, 3), 60, np.uint8)
      img[20:40, (i * 3) % 70:(i * 3) % 70 + 20] = 220
      frame = av.VideoFrame.from_ndarray(img, format="rgb24")
      frame.pts, frame.time_base = i, fractions.Fraction(1, fps)
      container.mux(video.encode(frame))
    container.mux(video.encode(None))
    chunk = audio.codec_context.frame_size or 1024
    t = np.arange(int(duration_s * sample_rate)) / sample_rate
    tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    for start in range(0, tone.size, chunk):
      piece = tone[start:start + chunk]  # AAC takes a short last frame: no padding past the end
      frame = av.AudioFrame.from_ndarray(piece[None], format="fltp", layout="mono")
      frame.sample_rate, frame.pts, frame.time_base = sample_rate, start, fractions.Fraction(1, sample_rate)
      container.mux(audio.encode(frame))
    container.mux(audio.encode(None))
  return path


def _read_csv_rows(path):
  import csv
  with open(path, newline="") as f:
    return list(csv.DictReader(f))


def test_merge_segments_joins_consecutive_windows_only():
  starts = np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
  ends = starts + 4.0
  probs = np.array([0.9, 0.6, 0.2, 0.7, 0.95, 0.4])
  merged = segments.merge_segments(starts, ends, probs, threshold=0.5)
  assert [(s.start_s, s.end_s) for s in merged] == [(0.0, 5.0), (3.0, 8.0)]
  assert [s.peak_probability for s in merged] == [0.9, 0.95]
  # Windows with a gap between them (hop longer than the window) stay apart.
  gapped = segments.merge_segments(np.array([0.0, 6.0]), np.array([4.0, 10.0]), np.array([0.8, 0.8]), 0.5)
  assert len(gapped) == 2


def test_smoothing_drops_a_lone_spike_and_keeps_a_sustained_cry():
  probs = np.array([0.1, 0.9, 0.1, 0.1, 0.8, 0.9, 0.7, 0.2])
  median = segments.smooth_probabilities(probs, 3, "median")
  np.testing.assert_allclose(median, [0.1, 0.1, 0.1, 0.1, 0.8, 0.8, 0.7, 0.2])
  mean = segments.smooth_probabilities(probs, 3, "mean")
  np.testing.assert_allclose(mean[:2], [1.1 / 3, 1.1 / 3])
  np.testing.assert_array_equal(segments.smooth_probabilities(probs, 1), probs)
  assert segments.smooth_probabilities(np.zeros(0), 5).shape == (0,)
  starts = np.arange(8.0)
  merged = segments.merge_segments(starts, starts + 4, median, 0.5)
  assert [(s.start_s, s.end_s) for s in merged] == [(4.0, 10.0)]   # the spike at 1 s is gone
  for bad in (0, 2, 3.0):
    with pytest.raises(ValueError, match="odd integer"):
      segments.smooth_probabilities(probs, bad)
  with pytest.raises(ValueError, match="method"):
    segments.smooth_probabilities(probs, 3, "max")


def test_study_clips_and_audio_only_wavs(detector, shared_data, tmp_path):
  avis = sorted((shared_data / "seed_samples/3DCNN/baby").glob("*.avi"))
  wavs = sorted((shared_data / "seed_samples/SVM/babywav").glob("*.wav"))
  paths = [str(p) for p in avis + wavs]
  done, failed = detection_files.detect_files(detector, paths, str(tmp_path), hop_s=1.0)
  assert not failed and len(done) == 4
  # 1022.avi and 1022.wav share a stem: the second gets its extension appended.
  stems = detection_files.output_stems(paths)
  assert stems == ["1016", "1022", "1001", "1022_wav"]
  for path, stem in zip(paths, stems):
    result = json.loads((tmp_path / f"{stem}.json").read_text())
    assert result["file"] == os.path.abspath(path)
    assert 3.9 < result["duration_s"] < 4.2
    assert result["num_windows"] == len(result["windows"]) == 1
    assert all(0.0 <= w["probability"] <= 1.0 for w in result["windows"])
    assert result["smoothing"] == {"windows": 3, "method": "median"}
    # One window: smoothing leaves it as it is.
    assert [w["smoothed_probability"] for w in result["windows"]] == [
        w["probability"] for w in result["windows"]]
    expected = ["audio", "video"] if path.endswith(".avi") else ["audio"]
    assert result["modalities_used"] == expected
    if path.endswith(".wav"):
      assert "no video track" in result["modalities_note"]
    rows = _read_csv_rows(tmp_path / f"{stem}.csv")
    assert [float(r["probability"]) for r in rows] == [w["probability"] for w in result["windows"]]
    assert (tmp_path / f"{stem}.png").read_bytes()[:8] == PNG_SIGNATURE


def test_window_count_follows_the_hop_on_a_20s_mp4(detector, tmp_path):
  path = write_mp4(tmp_path / "twenty.mp4", 20.0)
  one = detector.detect(str(path), hop_s=1.0)
  assert 19.9 < one.duration_s < 20.2
  # 4 s windows every 1 s over 20 s: starts 0..16, no tail left over.
  assert len(one.probabilities) == 17
  np.testing.assert_allclose(one.window_starts_s, np.arange(17.0))
  assert not one.padded.any()
  assert one.modalities_used == ("audio", "video")
  np.testing.assert_array_equal(one.smoothed_probabilities,
                                segments.smooth_probabilities(one.probabilities, 3, "median"))
  # Every 2.5 s: full windows at 0..15 and a padded tail window at 17.5 (2.5 s of media).
  coarse = detector.detect(str(path), hop_s=2.5)
  np.testing.assert_allclose(coarse.window_starts_s, np.arange(8) * 2.5)
  assert coarse.padded.tolist() == [False] * 7 + [True]
  assert coarse.window_ends_s[-1] == pytest.approx(one.duration_s, abs=0.05)
  # The same windows at the same starts get the same probability whatever the hop.
  np.testing.assert_allclose(coarse.probabilities[[0, 2, 4, 6]], one.probabilities[[0, 5, 10, 15]],
                             atol=1e-5)


def test_features_equal_the_records_preprocessing_stores(detector, shared_data, tmp_path):
  from babycry_jax.data.tfrecord_codec import TFRecordSource
  from preprocess import pipeline
  inputs = tmp_path / "inputs"
  (inputs / "crying").mkdir(parents=True)
  (inputs / "not_crying").mkdir()
  (inputs / "crying" / "1016.avi").symlink_to(shared_data / "seed_samples/3DCNN/baby/1016.avi")
  write_mp4(inputs / "not_crying" / "long.mp4", 10.0)
  dataset_dir = tmp_path / "dataset"
  pipeline.build_dataset(str(inputs), str(dataset_dir), PAPER, split_fractions=(1.0, 0.0, 0.0),
                         num_shards=1, direct_num_workers=1, log=lambda s: None)
  metadata = schema.read_metadata(str(dataset_dir))
  decoder = ExampleDecoder(metadata, audio_frames=PAPER.mel_frames, video_frames=PAPER.num_frames)
  source = TFRecordSource(str(dataset_dir), "train")
  records = {}
  for i in range(len(source)):
    record = decoder.parse(source[i])
    records[record["clip_id"].decode()] = record
  assert {"crying/1016.avi@0", "not_crying/long.mp4@0", "not_crying/long.mp4@4000"} <= set(records)

  files = {"crying/1016.avi": inputs / "crying" / "1016.avi", "not_crying/long.mp4": inputs / "not_crying" / "long.mp4"}
  compared = 0
  for source_id, path in files.items():
    # hop 1 s: the windows at 0 s and 4 s are the ones the 4 s-hop records hold.
    for window, feats in detector.iter_window_features(str(path), hop_s=1.0):
      clip_id = f"{source_id}@{int(round(window.start_s * 1000))}"
      if clip_id not in records:
        continue
      record = records[clip_id]
      for key in ("audio/log_mel", "audio/mfcc_stats", "audio/yamnet_log_mel", "video/frames"):
        np.testing.assert_array_equal(feats[key], record[key], err_msg=f"{clip_id} {key}")
      assert bool(feats["has_audio"]) == bool(record["has_audio"])
      assert bool(feats["has_video"]) == bool(record["has_video"])
      # And the model inputs detection builds are the decoder's, given the same stats.
      ours = ExampleDecoder(metadata, detector.decoder.audio_frames, detector.decoder.video_frames)
      mine = ours.model_inputs(dict(feats, label=0))
      theirs = ours.model_inputs(record)
      for key in ("log_mel", "mfcc_stats", "yamnet_log_mel", "frames"):
        np.testing.assert_array_equal(mine[key], theirs[key])
      compared += 1
  assert compared >= 3


def test_bad_files_get_one_line_errors_and_the_good_file_still_runs(detector, shared_data, tmp_path):
  good = shared_data / "seed_samples/SVM/babywav/1001.wav"
  empty = tmp_path / "empty.mp4"
  empty.write_bytes(b"")
  text = tmp_path / "notes.mp4"
  text.write_text("this is a text file, not a video\n" * 20)
  corrupt = tmp_path / "cut.avi"
  corrupt.write_bytes((shared_data / "seed_samples/3DCNN/baby/1016.avi").read_bytes()[:30000])
  out = tmp_path / "out"
  paths = [str(empty), str(text), str(good), str(corrupt)]
  done, failed = detection_files.detect_files(detector, paths, str(out))
  assert list(done) == [str(good)]
  assert set(failed) == {str(empty), str(text), str(corrupt)}
  for path, line in failed.items():
    assert "\n" not in line and line.startswith(f"{path}: error: ")
  assert "empty" in failed[str(empty)]
  assert "not_media" in failed[str(text)]
  assert "truncated" in failed[str(corrupt)]
  assert sorted(p.name for p in out.iterdir()) == ["1001.csv", "1001.json", "1001.png"]


def test_video_only_model_on_an_audio_file_is_a_clear_error(detector, shared_data, tmp_path):
  video_only = copy.copy(detector)
  video_only.modalities = ("video",)
  wav = str(shared_data / "seed_samples/SVM/babywav/1001.wav")
  done, failed = detection_files.detect_files(video_only, [wav], str(tmp_path))
  assert not done
  assert "reads video but the file has no video track" in failed[wav]
  # An audio-only model on a video file uses the audio and says it ignores the video.
  audio_only = copy.copy(detector)
  audio_only.modalities = ("audio",)
  used, note = audio_only.plan_modalities("x.avi", has_audio=True, has_video=True)
  assert used == ("audio",) and "ignores the video" in note


def test_command_line_exit_status_and_summary(fusion_run, shared_data, tmp_path):
  good = str(shared_data / "seed_samples/3DCNN/baby/1016.avi")
  bad = tmp_path / "renamed.mp4"
  bad.write_text("plain text\n")
  out = tmp_path / "detections"
  proc = subprocess.run(
      [sys.executable, "-m", "babycry_jax.detect", f"--workdir={fusion_run}", "--hop_s=2",
       f"--output_dir={out}", good, str(bad)],
      capture_output=True, text=True, cwd=pathlib.Path(__file__).resolve().parents[1], timeout=300)
  assert proc.returncode == 1, proc.stderr
  summary = [line for line in proc.stdout.splitlines() if line.startswith(good)]
  assert len(summary) == 1 and "windows" in summary[0] and "real time" in summary[0]
  errors = [line for line in proc.stderr.splitlines() if line.startswith(str(bad))]
  assert len(errors) == 1 and "not_media" in errors[0]
  assert (out / "1016.json").exists() and not (out / "renamed.json").exists()
