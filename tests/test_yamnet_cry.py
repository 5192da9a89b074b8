"""The YAMNet-based crying detector: its heads, what it trains and what it leaves as converted,
training with no step (YAMNet as it comes), and detection that computes each patch once."""
import subprocess
import sys

import jax
import ml_collections
import numpy as np
import pytest

import synthetic_dataset
from wav_files import write_wav
from babycry_jax import detection, forward, patch_scoring, runs, train_state, warm_start
from babycry_jax.data import features, media_audio, media_windows, schema, yamnet_features
from babycry_jax.models import yamnet, yamnet_cry
from conftest import REPO_ROOT
from configs import yamnet_cry as yamnet_cry_config

# Windows of 1 s: one YAMNet patch each, so the tests stay small.
SPEC = schema.FeatureSpec(preset="test", window_s=1.0, hop_s=1.0, n_mels=16, num_frames=2,
                          frame_size=8)


def _config(head: str, **fields) -> ml_collections.ConfigDict:
  c = yamnet_cry_config.get_config()
  c.model_kwargs = ml_collections.ConfigDict(dict(head=head))
  c.batch_size, c.num_epochs, c.log_every_steps = 8, 1, 1
  c.warmup_epochs = 0.0   # a first update of learning rate 0 would show nothing
  c.loader.worker_count = 0
  c.update(fields)
  return c


def _warm_state(config):
  model = train_state.create_model(config)
  state = train_state.create_train_state(config, model, schema.preset("paper"), steps_per_epoch=4)
  return model, warm_start.apply(state, config)[0]


@pytest.fixture(scope="module")
def windows():
  """Two windows of YAMNet log-mel [2, 398, 64]: a harmonic tone in noise and near silence."""
  rng = np.random.default_rng(0)
  t = np.arange(64000) / 16000
  tone = 0.3 * sum(np.sin(2 * np.pi * k * 450 * t) / k for k in (1, 2, 3)) + 0.01 * rng.standard_normal(64000)
  quiet = 1e-3 * rng.standard_normal(64000)
  return np.stack([yamnet_features.log_mel(a.astype(np.float32)) for a in (tone, quiet)])


def test_zero_shot_is_yamnets_mean_cry_score_and_the_residual_starts_there(windows):
  model, state = _warm_state(_config("zero_shot"))
  variables = forward.variables(state.params, state.batch_stats)
  batch = {"yamnet_log_mel": windows}
  probability = np.asarray(forward.probability_of(model.apply(variables, batch)))
  patches = np.asarray(yamnet_cry.frame_patches(windows))
  assert patches.shape == (2, 7, 96, 64)
  _, logits = yamnet.YamNet().apply({"params": state.params["yamnet"]}, patches.reshape(14, 96, 64))
  cry = np.asarray(jax.nn.sigmoid(logits[:, yamnet.CLASS_BABY_CRY])).reshape(2, 7)
  np.testing.assert_allclose(probability, cry.mean(1), rtol=1e-5)
  residual, state = _warm_state(_config("residual"))
  start = np.asarray(forward.probability_of(residual.apply(
      forward.variables(state.params, state.batch_stats), batch)))
  cry_logit = np.log(cry / (1 - cry)).mean(1)
  np.testing.assert_allclose(start, 1 / (1 + np.exp(-cry_logit)), rtol=1e-4)


def test_frozen_layers_are_never_trained_and_the_rest_is(windows):
  config = _config("residual", learning_rate=1e-2)
  config.model_kwargs.frozen_layers = 12          # blocks 12 and 13 and the head train
  model, state = _warm_state(config)
  frozen = model.frozen_params(state.params)
  assert frozen["yamnet"]["block11"]["pointwise"]["kernel"] is True
  assert frozen["yamnet"]["block12"]["pointwise"]["kernel"] is False
  assert frozen["yamnet"]["classifier"]["kernel"] is True
  assert frozen["correction"]["kernel"] is False

  def loss(params):
    logits = model.apply(forward.variables(params, None), {"yamnet_log_mel": windows})
    return -jax.nn.log_softmax(logits)[:, 1].mean()
  grads = jax.grad(loss)(state.params)
  updates, _ = state.tx.update(grads, state.tx.init(state.params), state.params)
  moved = jax.tree.map(lambda u: bool(np.any(np.asarray(u) != 0)), updates)
  flat = {jax.tree_util.keystr(p): v for p, v in jax.tree_util.tree_leaves_with_path(moved)}
  assert all(not v for k, v in flat.items() if "'block1'" in k or "'conv0'" in k or "classifier" in k)
  assert flat["['yamnet']['block13']['pointwise']['kernel']"]
  assert flat["['correction']['kernel']"]


def test_learning_rate_scales_slow_a_group_down(windows):
  config = _config("residual", learning_rate=1e-2)
  config.model_kwargs.frozen_layers = 13
  config.learning_rate_scales = ml_collections.ConfigDict({"yamnet": 0.1})
  model, state = _warm_state(config)
  base_config = _config("residual", learning_rate=1e-2)
  base_config.model_kwargs.frozen_layers = 13
  base_config.learning_rate_scales = ml_collections.ConfigDict()
  _, base = _warm_state(base_config)

  def loss(params):
    logits = model.apply(forward.variables(params, None), {"yamnet_log_mel": windows})
    return -jax.nn.log_softmax(logits)[:, 1].mean()
  grads = jax.grad(loss)(state.params)
  slow, _ = state.tx.update(grads, state.tx.init(state.params), state.params)
  fast, _ = base.tx.update(grads, base.tx.init(base.params), base.params)
  np.testing.assert_allclose(slow["yamnet"]["block13"]["pointwise"]["kernel"],
                             0.1 * fast["yamnet"]["block13"]["pointwise"]["kernel"], rtol=1e-5)
  np.testing.assert_allclose(slow["correction"]["kernel"], fast["correction"]["kernel"], rtol=1e-6)


def test_no_epochs_validates_and_saves_the_converted_model(tmp_path):
  data = synthetic_dataset.write(str(tmp_path / "data"), {"train": 16, "validation": 8, "test": 8},
                                 spec=SPEC, num_shards=1)
  workdir = str(tmp_path / "run")
  done = subprocess.run(
      [sys.executable, "-m", "babycry_jax.train", "--config", "configs/yamnet_zero_shot.py",
       "--workdir", workdir, f"--config.dataset_dir={data}", "--config.batch_size=8",
       "--config.loader.worker_count=0", "--config.audio_frames=100", "--config.video_frames=2"],
      cwd=REPO_ROOT, capture_output=True, text=True,
      timeout=600)
  assert done.returncode == 0, done.stderr[-2000:]
  assert "starts from the pretrained YAMNet" in done.stderr
  assert "validation at step 0" in done.stderr
  run = runs.load_run(workdir, "best")
  assert run.step == 0
  for layer in ("conv0", "block7", "classifier"):
    for name, leaf in run.state.params["yamnet"][layer].items():
      if isinstance(leaf, dict):
        continue
      from babycry_jax import yamnet_weights
      np.testing.assert_array_equal(leaf, yamnet_weights.load_params()[layer][name])


def _bursts_wav(path, seconds: float, rate: int, seed: int = 0) -> str:
  """A harmonic tone in bursts over soft noise."""
  rng = np.random.default_rng(seed)
  t = np.arange(int(seconds * rate)) / rate
  bursts = (np.sin(2 * np.pi * 0.7 * t) > 0.3).astype(np.float32)
  audio = 0.3 * bursts * np.sin(2 * np.pi * (450 + 40 * np.sin(2 * np.pi * 5 * t)) * t)
  return write_wav(path, audio + 0.02 * rng.standard_normal(len(t)), rate)


def test_window_16k_audio_equals_the_same_span_read_whole(tmp_path):
  path = _bursts_wav(tmp_path / "a.wav", 9.3, 44100)
  spec = schema.preset("paper")
  whole = next(media_audio.iter_audio_16k(path, spec, [(0.0, 9.3)]))
  compared = 0
  for window in media_windows.iter_windows(path, spec, hop_s=0.96):
    if window.padded:
      continue
    first = int(round(window.start_s * yamnet_features.SAMPLE_RATE))
    np.testing.assert_array_equal(window.audio_16k, whole[first:first + 64000])
    compared += 1
  assert compared == 6


def test_patch_batch_sizes_pad_a_rest_by_less_than_half():
  assert patch_scoring.patch_batch_sizes(1) == (1,)
  assert patch_scoring.patch_batch_sizes(4) == (1, 2, 3, 4)
  assert patch_scoring.patch_batch_sizes(7) == (1, 2, 3, 4, 6, 7)
  assert patch_scoring.patch_batch_sizes(32) == (1, 2, 3, 4, 6, 8, 12, 16, 24, 32)
  for largest in range(1, 70):
    sizes = patch_scoring.patch_batch_sizes(largest)
    for n in range(1, largest + 1):
      assert next(s for s in sizes if s >= n) < 1.5 * n + 1


# 10 s: 7 full windows (19 patches), then a padded one (7 patches of its own); 3 s: only a
# padded window; 4.96 s: 2 full windows (9 patches), no padded one; 40 s: 38 full windows
# (81 patches: a chunk of 64, then 17), then a padded window.
@pytest.mark.parametrize("duration_s, windows, model_calls", [
    (10.0, 8, [4] * 6 + [2]), (3.0, 1, [4, 3]), (4.96, 2, [4, 4, 1]), (40.0, 39, [4] * 22)])
def test_patch_scoring_equals_scoring_each_window_whole(tmp_path, duration_s, windows, model_calls):
  """Detection's patch path gives every window the probability the model gives that window's
  record features, padded last window included; each patch is computed once, the padded
  window's in the file's last model call, and a short rest is not padded to a full batch."""
  config = _config("zero_shot")
  config.num_epochs = 0
  model, state = _warm_state(config)
  spec = schema.preset("paper")
  metadata = {"feature_spec": spec.to_json(), "record_format": schema.RECORD_FORMAT,
              "stats": {schema.LOG_MEL: {"mean": 0.0, "std": 1.0},
                        schema.MFCC_STATS: {"mean": [0.0] * 78, "std": [1.0] * 78},
                        schema.FRAMES: {"mean": 0.0, "std": 1.0}}}
  run = runs.Run(config, model, state, 0, spec, metadata)
  detector = detection.Detector(None, run=run, source="test", batch_size=4)
  scorer, calls = detector.patch_scorer, []
  outputs = scorer._outputs
  scorer._outputs = lambda v, x: calls.append(len(x)) or outputs(v, x)
  path = _bursts_wav(tmp_path / "b.wav", duration_s, 22050)
  result = detector.detect(path, hop_s=1.0, smoothing_windows=1)
  assert result.hop_s == pytest.approx(0.96)
  assert calls == model_calls
  expected = []
  variables = forward.variables(state.params, state.batch_stats)
  for window in media_windows.iter_windows(path, spec, hop_s=result.hop_s):
    log_mel = features.window_features(window, spec)[schema.YAMNET_LOG_MEL].astype(np.float32)
    expected.append((window.start_s, window.padded, float(forward.probability_of(
        model.apply(variables, {"yamnet_log_mel": log_mel[None]}))[0])))
  assert len(expected) == len(result.probabilities) == windows
  np.testing.assert_allclose(result.window_starts_s, [s for s, _, _ in expected], atol=1e-9)
  assert result.padded.tolist() == [p for _, p, _ in expected]
  np.testing.assert_allclose(result.probabilities, [p for _, _, p in expected], rtol=1e-4, atol=1e-7)
  # The timeline strip shows the media once, in order, to its end (the patches of the last full
  # window reach 0.16 s before the end of it), not a padded window's loop.
  assert result.spectrogram.shape[0] == yamnet_features.N_MELS
  times = result.spectrogram_times_s
  assert np.all(np.diff(times) > 0) and duration_s - 0.25 < times[-1] < duration_s
