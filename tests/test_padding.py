"""Padding carries no signal: a window cut from a short input equals the window of the
same sound played in a loop, in its samples, its features and every model's output."""
import fractions

import av
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from babycry_jax import forward, models
from babycry_jax.data import features, media_video, media_windows, schema
from babycry_jax.data.example_decoder import ExampleDecoder

# Small shapes so that every registered model compiles quickly: 99 mel frames x 32 bands,
# 6 frames of 16x16 gray, one YAMNet patch. Frame times (0.0825 + 0.165 k s) never fall on a
# 16 fps frame edge.
SPEC = schema.FeatureSpec(window_s=0.99, hop_s=0.99, n_mels=32, num_frames=6, frame_size=16,
                          min_duration_s=0.1)
FPS = 16
CONTENT_FRAMES = 7                        # 0.4375 s of media: shorter than the window
AUDIO_RATE = 8000
TEST_KWARGS = {"fusion_bottleneck": dict(num_layers=1, fusion_layer=0)}


def _content(seed=0):
  """(frames uint8 [7, 32, 32, 3], audio int16 [3500]): distinct frames, noise and a chirp."""
  rng = np.random.default_rng(seed)
  frames = rng.integers(0, 256, (CONTENT_FRAMES, 32, 32, 3), dtype=np.uint8)
  n = CONTENT_FRAMES * AUDIO_RATE // FPS
  t = np.arange(n) / AUDIO_RATE
  audio = 0.3 * np.sin(2 * np.pi * (300 + 2000 * t) * t) + 0.05 * rng.standard_normal(n)
  return frames, (audio * 32767).astype(np.int16)


def _write_avi(path, frames, audio):
  """Lossless video (FFV1) and PCM audio, so decoding returns exactly what was written."""
  container = av.open(str(path), "w")
  video = container.add_stream("ffv1", rate=fractions.Fraction(FPS))
  video.width, video.height, video.pix_fmt = 32, 32, "yuv444p"
  sound = container.add_stream("pcm_s16le", rate=AUDIO_RATE)
  sound.layout = "mono"
  for i, rgb in enumerate(frames):
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
    frame.pts = i
    container.mux(video.encode(frame))
  container.mux(video.encode())
  chunk = 500
  for i in range(0, len(audio), chunk):
    frame = av.AudioFrame.from_ndarray(audio[None, i:i + chunk], format="s16", layout="mono")
    frame.sample_rate, frame.pts = AUDIO_RATE, i
    container.mux(sound.encode(frame))
  container.mux(sound.encode())
  container.close()
  return str(path)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
  """{"short": the clip, "looped": the same clip three times over}: their paths."""
  folder = tmp_path_factory.mktemp("padding")
  frames, audio = _content()
  return {"short": _write_avi(folder / "short.avi", frames, audio),
          "looped": _write_avi(folder / "looped.avi", np.concatenate([frames] * 3),
                               np.concatenate([audio] * 3))}


@pytest.fixture(scope="module")
def short_and_looped(clips):
  """(window of the short clip, window of the looped clip)."""
  (padded,) = list(media_windows.iter_windows(clips["short"], SPEC))
  return padded, media_windows.window_at(clips["looped"], SPEC, 0.0)


def test_a_padded_window_equals_the_window_of_the_looped_sound(short_and_looped, clips):
  padded, full = short_and_looped
  assert padded.padded and not full.padded
  assert padded.duration_s == pytest.approx(CONTENT_FRAMES / FPS)
  np.testing.assert_array_equal(padded.audio, full.audio)
  np.testing.assert_array_equal(padded.frames, full.frames)
  # The content really repeats: frame 3, at 0.5775 s, shows what 0.14 s showed.
  again = media_video.read_frames(clips["short"], [0.5775 - CONTENT_FRAMES / FPS], SPEC.frame_size, 1)
  np.testing.assert_array_equal(padded.frames[3], again[0])
  ours, theirs = features.window_features(padded, SPEC), features.window_features(full, SPEC)
  for key in schema.WINDOW_FEATURES:
    np.testing.assert_array_equal(ours[key], theirs[key], err_msg=key)


def test_loop_to_length_repeats_and_refuses_empty_content():
  np.testing.assert_array_equal(media_windows.loop_to_length(np.arange(3.0), 7), [0, 1, 2, 0, 1, 2, 0])
  with pytest.raises(ValueError, match="empty"):
    media_windows.loop_to_length(np.zeros(0), 4)


def _model_batch(windows):
  stats = {key: {"mean": 0.0, "std": 1.0} for key in schema.NORMALIZED_FEATURES}
  decoder = ExampleDecoder({"feature_spec": SPEC.to_json(), "stats": stats},
                           SPEC.mel_frames, SPEC.num_frames)
  inputs = [forward.model_inputs(decoder.model_inputs(
      dict(features.window_features(w, SPEC), label=0))) for w in windows]
  return {k: jnp.asarray(np.stack([x[k] for x in inputs])) for k in schema.MODEL_INPUTS}


@pytest.mark.parametrize("name", models.names())
def test_every_model_gives_a_padded_window_the_decision_of_the_looped_sound(name,
                                                                           short_and_looped):
  batch = _model_batch(short_and_looped)
  model = models.create(name, **TEST_KWARGS.get(name, {}))
  keys = {"params": jax.random.key(0, impl="rbg"), "dropout": jax.random.key(1, impl="rbg")}


  @jax.jit   # init and apply in one compilation: compiling is most of this test's time
  def probability(b):
    return forward.probability_of(model.apply(model.init(keys, b, train=False), b, train=False))

  padded_p, full_p = np.asarray(probability(batch))
  # The inputs are equal bit for bit; XLA on CPU may still sum two rows of a batch in
  # different orders (it splits work between threads), so the last float bits may differ.
  np.testing.assert_allclose(padded_p, full_p, rtol=1e-5, atol=1e-7)
