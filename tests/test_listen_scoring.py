"""The live monitor's scores are detect's: the stream timeline, resampling in chunks, the
streaming smoother, a window model and a YAMNet-patch model on a recording fed in pieces."""
import numpy as np
import pytest

import live_parts
from babycry_jax import detection, segments, stream_scoring
from babycry_jax.data import media_audio, media_probe, schema
from babycry_jax.data.stream_timeline import StreamTimeline

SPEC = schema.preset("paper")


def _feed(detector, path: str, hop_s: float, seed: int = 0, piece_s: float = 0.37):
  """The file's samples (as detect decodes them) pushed in random-size pieces, scored live."""
  info = media_probe.probe(path)
  rate = media_probe_rate(path)
  samples = media_audio.read_audio(path, rate, 0.0, info.duration_s)
  scorer = stream_scoring.StreamScorer(detector, hop_s)
  timeline = scorer.new_timeline(rate)
  rng = np.random.default_rng(seed)
  scored, first = [], 0
  while first < len(samples):
    count = int(rng.integers(1, int(piece_s * rate) * 2))
    timeline.append(samples[first:first + count])
    first += count
    scored += scorer.score(timeline)
  timeline.end()
  return scored + scorer.score(timeline)


def media_probe_rate(path: str) -> int:
  import av
  with av.open(path) as container:
    return container.streams.audio[0].codec_context.sample_rate


def _compare(detector, path: str, hop_s: float) -> None:
  expected = detector.detect(path, hop_s=hop_s, threshold=0.5, smoothing_windows=3)
  live = _feed(detector, path, hop_s)
  assert len(live) == len(expected.probabilities)
  np.testing.assert_allclose([w.start_s for w in live], expected.window_starts_s, atol=1e-9)
  np.testing.assert_allclose([w.end_s for w in live], expected.window_ends_s, atol=1e-9)
  assert [w.padded for w in live] == expected.padded.tolist()
  np.testing.assert_allclose([w.probability for w in live], expected.probabilities,
                             rtol=1e-4, atol=1e-6)
  smoother = segments.StreamingSmoother(3, "median")
  smoothed = [s for w in live for _, _, s in smoother.push(w, w.probability)]
  smoothed += [s for _, _, s in smoother.finish()]
  np.testing.assert_allclose(smoothed, expected.smoothed_probabilities, rtol=1e-4, atol=1e-6)


def test_the_timeline_serves_a_stream_like_a_file_and_forgets_the_past():
  timeline = StreamTimeline(rate=100, keep_s=1.0)
  timeline.append(np.arange(1, 51, dtype=np.float32))
  np.testing.assert_array_equal(timeline.samples(-2, 4), [0, 0, 1, 2])
  with pytest.raises(ValueError, match="heard so far"):
    timeline.samples(40, 20)
  for k in range(10):
    timeline.append(np.full(30, k, np.float32))
  assert timeline.received == 350
  np.testing.assert_array_equal(timeline.samples(345, 5), [9] * 5)
  with pytest.raises(ValueError, match="kept"):
    timeline.samples(100, 5)
  timeline.append(np.arange(500, dtype=np.float32))   # longer than the history: its tail stays
  np.testing.assert_array_equal(timeline.samples(849, 1), [499])
  timeline.end()
  np.testing.assert_array_equal(timeline.samples(849, 3), [499, 0, 0])


@pytest.mark.parametrize("rate", [8000, 22050, 44100])
def test_resampling_in_chunks_equals_the_files(tmp_path, rate):
  """Spec-rate and 16 kHz audio cut from a stream fed in pieces equal a file's, sample for sample,
  from the very first samples on (both read zeros before the start)."""
  audio = live_parts.wailing(6.0, rate, seed=1)
  path = live_parts.write_wav(tmp_path / "a.wav", audio, rate)
  info = media_probe.probe(path)
  samples = media_audio.read_audio(path, rate)
  timeline = StreamTimeline(rate, keep_s=30)
  for first in range(0, len(samples), 777):
    timeline.append(samples[first:first + 777])
  file_timeline = media_audio.AudioTimeline(path, info, 0.0)
  try:
    for start_s in (0.0, 0.5, 1.92):
      np.testing.assert_array_equal(media_audio.resampled(timeline, 8000, start_s, 16000),
                                    media_audio.resampled(file_timeline, 8000, start_s, 16000))
      np.testing.assert_array_equal(media_audio.audio_16k(timeline, SPEC, start_s, 2.0),
                                    media_audio.audio_16k(file_timeline, SPEC, start_s, 2.0))
  finally:
    file_timeline.close()


@pytest.mark.parametrize("k,method", [(1, "median"), (3, "median"), (5, "median"), (5, "mean")])
def test_streaming_smoothing_equals_smoothing_the_whole_sequence(k, method):
  values = np.random.default_rng(k).random(23)
  smoother = segments.StreamingSmoother(k, method)
  out = []
  for i, p in enumerate(values):
    decided = smoother.push(i, p)
    assert len(decided) == (1 if i >= smoother.lag else 0)
    out += decided
  out += smoother.finish()
  assert [i for i, _, _ in out] == list(range(23))
  np.testing.assert_allclose([s for _, _, s in out],
                             segments.smooth_probabilities(values, k, method), rtol=1e-12)
  assert segments.StreamingSmoother(3).finish() == []


def test_a_window_model_scores_a_stream_as_detect_scores_the_file(tmp_path):
  """The shipped window model (cnn_pool) on 11.3 s at 22.05 kHz, stereo: full windows and the
  padded last one, raw and smoothed, as detect gives them."""
  detector = detection.shipped_detector("real_world_cnn_pool", batch_size=3)
  left, right = live_parts.wailing(11.3, 22050, seed=2), live_parts.wailing(11.3, 22050, seed=3)
  path = live_parts.write_wav(tmp_path / "w.wav", np.stack([left, 0.5 * right], axis=1), 22050)
  _compare(detector, path, hop_s=1.0)
  _compare(detector, path, hop_s=0.5)


def test_a_patch_model_scores_a_stream_as_detect_scores_the_file(tmp_path):
  """Zero-shot YAMNet: each patch once, windows every 0.96 s, a padded last window."""
  detector = live_parts.zero_shot_detector(batch_size=4)
  path = live_parts.write_wav(tmp_path / "p.wav", live_parts.wailing(10.5, 16000, seed=4), 16000)
  _compare(detector, path, hop_s=1.0)
