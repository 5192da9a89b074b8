"""Windows: real study clips, hops, padded tails, seeks, segments and the window plan."""
import dataclasses
import fractions

import numpy as np
import pytest

import media_clips
from babycry_jax.data import media_audio, media_probe, media_video, media_windows, schema

PAPER = schema.preset("paper")
STUDY_AVIS = ["baby/1016.avi", "baby/1022.avi", "other/1654.avi", "other/3077.avi",
              "other/3352.avi", "other/3376.avi"]


# ----------------------------------------------------------------------------- real media


@pytest.mark.parametrize("name", STUDY_AVIS)
def test_study_avi_decodes_to_one_window_with_both_tracks(shared_data, name):
  path = shared_data / "seed_samples" / "3DCNN" / name
  info = media_probe.probe(path)
  assert info.has_audio and info.has_video
  assert 4.0 <= info.duration_s < 4.05
  assert info.fps == pytest.approx(25.0) or info.fps == pytest.approx(14.92, abs=0.01)
  assert info.sample_rate in (44100, 48000) and info.channels in (1, 2)
  windows = list(media_windows.iter_windows(path, PAPER))
  assert len(windows) == 1
  window = windows[0]
  assert not window.padded and window.start_s == 0.0 and window.duration_s == pytest.approx(4.0)
  assert window.audio.shape == (32000,) and window.audio.dtype == np.float32
  assert 0.005 < np.sqrt(np.mean(window.audio ** 2)) < 1.0
  assert window.frames.shape == (18, 64, 64, 1) and window.frames.dtype == np.uint8
  assert window.frames.std() > 5                         # real pictures, not a blank fill
  assert np.abs(np.diff(window.frames.astype(np.int16), axis=0)).mean() > 0.5   # they move


# ----------------------------------------------------------------------------- windows


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory):
  """21 s of small video at 10 fps, flashes at 12.0-12.5 s, bursts at 5 s and 12 s."""
  path = tmp_path_factory.mktemp("long") / "long.mkv"
  return media_clips.write_clip(path, 21.0, fps=fractions.Fraction(10), size=(32, 32),
                                flashes=((12.0, 12.5),), bursts=((5.0, 5.1), (12.0, 12.1)),
                                audio_codec="flac", audio_rate=16000)


def test_hop_gives_overlapping_windows_and_a_padded_tail(long_clip):
  spec = dataclasses.replace(PAPER, frame_size=16)
  starts = [(w.start_s, w.padded) for w in media_windows.iter_windows(long_clip, spec, hop_s=2.0)]
  assert starts == [(float(s), False) for s in range(0, 18, 2)] + [(18.0, True)]
  windows = list(media_windows.iter_windows(long_clip, spec))   # default hop = window
  assert [w.start_s for w in windows] == [0.0, 4.0, 8.0, 12.0, 16.0, 20.0]
  tail = windows[-1]
  assert tail.padded and tail.duration_s == pytest.approx(1.0, abs=0.05)
  content = int(round(tail.duration_s * 8000))
  assert np.abs(tail.audio[:7900]).max() > 0.005
  np.testing.assert_array_equal(tail.audio, np.resize(tail.audio[:content], 32000))   # looped
  times = media_windows.frame_times(0.0, spec)
  np.testing.assert_array_equal(tail.frames[times >= tail.duration_s],      # frames loop too
                                tail.frames[[np.searchsorted(times, t % tail.duration_s)
                                             for t in times[times >= tail.duration_s]]])
  # Streamed windows equal independent reads of the same spans.
  whole = media_audio.read_audio(long_clip, 8000)
  for window in windows[:-1]:
    first = int(window.start_s * 8000)
    np.testing.assert_allclose(window.audio, whole[first:first + 32000], atol=1e-4)
  assert media_clips.onsets_s(windows[1].audio, 8000) == pytest.approx([1.0], abs=0.003)
  assert media_clips.onsets_s(windows[3].audio, 8000) == pytest.approx([0.0], abs=0.003)
  assert (media_clips.is_white(windows[3].frames)[:2].all()
          and not media_clips.is_white(windows[3].frames)[3:].any())


def test_window_at_deep_in_the_file_seeks_to_the_same_result(long_clip):
  spec = dataclasses.replace(PAPER, frame_size=16)
  streamed = list(media_windows.iter_windows(long_clip, spec, hop_s=1.0))[11]
  assert streamed.start_s == 11.0
  sought = media_windows.window_at(long_clip, spec, 11.0)   # far enough in to seek
  np.testing.assert_array_equal(sought.frames, streamed.frames)
  np.testing.assert_allclose(sought.audio, streamed.audio, atol=1e-4)
  assert media_clips.onsets_s(sought.audio, 8000) == pytest.approx([1.0], abs=0.003)
  frames = media_video.read_frames(long_clip, [11.95, 12.05, 12.45, 12.55], 16, 1)
  assert media_clips.is_white(frames).tolist() == [False, True, True, False]


def test_segment_of_a_long_file_and_a_short_window_at(long_clip):
  spec = dataclasses.replace(PAPER, frame_size=16)
  windows = list(media_windows.iter_windows(long_clip, spec, start_s=10.0, end_s=20.0))
  assert [(w.start_s, w.padded) for w in windows] == [(10.0, False), (14.0, False), (18.0, True)]
  assert windows[-1].duration_s == pytest.approx(2.0)
  np.testing.assert_array_equal(windows[-1].audio[16000:], windows[-1].audio[:16000])
  short = media_windows.window_at(long_clip, spec, 11.0, 2.0)
  assert short.padded and short.duration_s == pytest.approx(2.0)
  # The segment's 2 s play twice; media after its end is never read.
  assert media_clips.onsets_s(short.audio, 8000) == pytest.approx([1.0, 3.0], abs=0.003)
  with pytest.raises(media_probe.MediaError, match="too_short"):
    media_windows.window_at(long_clip, spec, 20.5)
  with pytest.raises(media_probe.MediaError, match="too_short"):
    media_windows.window_at(long_clip, dataclasses.replace(spec, short_policy="skip"), 11.0, 2.0)


@pytest.fixture(scope="module")
def short_clip(tmp_path_factory):
  path = tmp_path_factory.mktemp("short") / "short.mp4"
  return media_clips.write_clip(path, 2.0, fps=fractions.Fraction(25), flashes=((1.9, 2.0),),
                                bursts=((0.5, 0.6),))


def test_short_input_is_padded_or_skipped(short_clip):
  (padded,) = list(media_windows.iter_windows(short_clip, PAPER))
  assert padded.padded and padded.duration_s == pytest.approx(2.0, abs=0.05)
  assert padded.audio.shape == (32000,)
  assert media_clips.onsets_s(padded.audio, 8000) == pytest.approx([0.5, 0.5 + padded.duration_s], abs=0.003)
  times = media_windows.frame_times(0.0, PAPER)
  looped_times = np.where(times < padded.duration_s, times, times % padded.duration_s)
  np.testing.assert_array_equal(padded.frames, media_video.read_frames(short_clip, looped_times, 64, 1))
  skip = dataclasses.replace(PAPER, short_policy="skip")
  assert list(media_windows.iter_windows(short_clip, skip)) == []


def test_too_short_input_raises(short_clip):
  spec = dataclasses.replace(PAPER, min_duration_s=3.0)
  media_clips.assert_media_error(short_clip, "too_short",
                                 call=lambda p: list(media_windows.iter_windows(p, spec)))



def test_window_plan_for_lengths_hops_and_policies():
  plan = media_windows.window_starts(10.0, PAPER, 4.0)
  assert plan == [(0.0, False), (4.0, False), (8.0, True)]          # 2 s tail kept, padded
  # A 0.5 s tail is less than the 1 s minimum.
  assert media_windows.window_starts(8.5, PAPER, 4.0) == [(0.0, False), (4.0, False)]
  # Within tolerance: full.
  assert media_windows.window_starts(7.98, PAPER, 4.0) == [(0.0, False), (4.0, False)]
  assert media_windows.window_starts(10.0, dataclasses.replace(PAPER, short_policy="skip"), 4.0) == [
      (0.0, False), (4.0, False)]
  assert media_windows.window_starts(6.0, PAPER, 1.0) == [(0.0, False), (1.0, False), (2.0, False)]
  assert media_windows.window_starts(2.0, PAPER, 4.0) == [(0.0, True)]
  with pytest.raises(ValueError):
    media_windows.window_starts(10.0, PAPER, 0.0)
