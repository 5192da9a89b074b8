"""Every registered model builds, runs in train/eval and bf16, learns a tiny batch, and copes
with a missing modality; the shared layers match their reference ops."""
import importlib

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from babycry_jax import models
from babycry_jax.models import batch_inputs, complexity, encoders

EXPECTED_MODALITIES = {
    "svm": ("audio",), "cnn2": ("audio",), "cnn4": ("audio",), "cnn6": ("audio",),
    "lstm": ("audio",), "cnn_pool": ("audio",), "c3d": ("video",),
    "fusion_cnn_cnn_fc": ("audio", "video"), "fusion_cnn_3dcnn_fc": ("audio", "video"),
    "fusion_cnn_cnn_lstm": ("audio", "video"), "fusion_cnn_3dcnn_lstm": ("audio", "video"),
    "fusion_bottleneck": ("audio", "video"),
    "fusion_pool_3dcnn": ("audio", "video"),
    "yamnet_cry": ("audio",), "fusion_yamnet_3dcnn": ("audio", "video"),
}
FUSION = [n for n, m in EXPECTED_MODALITIES.items() if len(m) == 2]
# Small shapes: 60 mel frames x 32 bands, 6 frames of 16x16 gray, one YAMNet patch.
SMALL = dict(audio_frames=60, n_mels=32, video_frames=6, frame_size=16, channels=1,
             yamnet_frames=96)


# Shrunk where a model's default is large only in depth, to keep compile time down.
TEST_KWARGS = {"fusion_bottleneck": dict(num_layers=1, fusion_layer=0),
               # Random weights, not YAMNet's: here the whole network learns.
               "yamnet_cry": dict(frozen_layers=0), "fusion_yamnet_3dcnn": dict(frozen_layers=0)}
# bf16 is checked on one model per shared code path (the others reuse its layers).
BF16_CHECKED = ("svm", "cnn2", "lstm", "c3d", "fusion_cnn_cnn_fc", "fusion_cnn_3dcnn_lstm",
                "fusion_bottleneck")
BATCH_SIZE = 8


def _build(name, **kwargs):
  return models.create(name, **kwargs)  # no BatchNorm device axis: these run outside pmap


def _init(model, batch):
  # Jitted, with "rbg" keys: eager init, or threefry keys, compile several times slower.
  keys = {"params": jax.random.key(0, impl="rbg"), "dropout": jax.random.key(1, impl="rbg")}
  init = jax.jit(lambda b: model.init(keys, b, train=False))
  return init(jax.tree.map(jnp.asarray, batch))


def _learnable_batch(labels):
  """Random inputs whose every array is shifted by half a standard deviation per label.

  Pure noise is no test of learning for the study's max-pooled CNNs: the
  maximum of noise barely differs between examples.
  """
  batch = batch_inputs.example_batch(len(labels), seed=0, **SMALL)
  for key in ("log_mel", "mfcc_stats", "yamnet_log_mel", "frames"):
    shift = (np.asarray(labels, np.float32) - 0.5).reshape((-1,) + (1,) * (batch[key].ndim - 1))
    batch[key] = batch[key] + shift
  return batch


def _apply_train(model, variables, batch, key):
  out = model.apply(variables, batch, train=True, rngs={"dropout": key},
                    mutable=["batch_stats"])
  return out[0]


_BUILT = {}


def _built(name):
  """(model, variables, jitted eval apply) at the small shapes, built once per name."""
  if name not in _BUILT:
    model = _build(name, **TEST_KWARGS.get(name, {}))
    variables = _init(model, batch_inputs.example_batch(BATCH_SIZE, **SMALL))
    evaluate = jax.jit(lambda v, b: model.apply(v, b, train=False))
    _BUILT[name] = model, variables, evaluate
  return _BUILT[name]


def test_registry_holds_every_model_of_the_study_and_the_bottleneck():
  assert set(models.names()) == set(EXPECTED_MODALITIES)
  with pytest.raises(ValueError, match="unknown model"):
    models.get("resnet")


@pytest.mark.parametrize("name", sorted(EXPECTED_MODALITIES))
def test_model_runs_and_overfits_a_tiny_batch(name):
  model, variables, evaluate = _built(name)
  assert tuple(model.modalities) == EXPECTED_MODALITIES[name]
  labels = jnp.array([0, 1, 1, 0, 1, 0, 0, 1])
  batch = _learnable_batch(labels)
  assert "batch_stats" not in variables  # the study's models have no BatchNorm

  eval_logits = evaluate(variables, batch)
  assert eval_logits.shape == (8, 2) and eval_logits.dtype == jnp.float32
  assert np.isfinite(np.asarray(eval_logits)).all()

  if name in BF16_CHECKED:
    bf16_model = _build(name, dtype=jnp.bfloat16, **TEST_KWARGS.get(name, {}))
    bf16_logits = jax.jit(lambda v, b: bf16_model.apply(v, b, train=False))(variables, batch)
    assert bf16_logits.dtype == jnp.float32
    np.testing.assert_allclose(bf16_logits, eval_logits,
                               atol=0.15 + 0.05 * np.abs(eval_logits).max())

  optimizer = optax.adam(3e-3)
  params = variables["params"]
  opt_state = optimizer.init(params)

  @jax.jit
  def step(params, opt_state, key):
    def loss_fn(p):
      logits = _apply_train(model, {"params": p}, batch, key)
      return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean(), logits
    (loss, logits), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss, logits

  key = jax.random.key(2)
  for i in range(120):
    params, opt_state, loss, train_logits = step(params, opt_state, jax.random.fold_in(key, i))
    if i == 0:
      assert train_logits.shape == (8, 2) and np.isfinite(np.asarray(train_logits)).all()
    if i >= 10 and loss < 0.05:
      break
  logits = evaluate({"params": params}, batch)
  accuracy = float((logits.argmax(-1) == labels).mean())
  assert accuracy == 1.0, f"{name}: train accuracy {accuracy} after {i + 1} steps, loss {loss}"
  assert loss < 0.3, f"{name}: loss {loss} after {i + 1} steps"


@pytest.mark.parametrize("name", FUSION)
def test_fusion_model_uses_and_survives_a_missing_video_track(name):
  _, variables, evaluate = _built(name)
  batch = batch_inputs.example_batch(BATCH_SIZE, seed=1, **SMALL)
  with_video = evaluate(variables, batch)

  missing = dict(batch, has_video=np.zeros(BATCH_SIZE, np.float32))
  missing["frames"] = np.full_like(batch["frames"], np.nan)  # junk where the track is absent
  without_video = evaluate(variables, missing)
  assert np.isfinite(np.asarray(without_video)).all()
  assert not np.allclose(with_video, without_video, atol=1e-6)

  # The video track is ignored when marked missing: any frames give the same output.
  other = dict(missing, frames=np.ones_like(batch["frames"]))
  np.testing.assert_allclose(evaluate(variables, other), without_video, atol=1e-6)

  no_audio = dict(batch, has_audio=np.zeros(BATCH_SIZE, np.float32))
  no_audio["log_mel"] = np.full_like(batch["log_mel"], np.nan)
  assert np.isfinite(np.asarray(evaluate(variables, no_audio))).all()


def test_bottleneck_layers_before_fusion_keep_modalities_apart():
  # With fusion only in the last layer, video must still change the output
  # (through the bottleneck) and a missing video must not break it.
  model = _build("fusion_bottleneck", num_layers=2, fusion_layer=1, width=32, mlp_dim=64)
  batch = batch_inputs.example_batch(2, seed=3, **SMALL)
  variables = _init(model, batch)
  evaluate = jax.jit(lambda v, b: model.apply(v, b, train=False))
  base = evaluate(variables, batch)
  brighter = evaluate(variables, dict(batch, frames=batch["frames"] + 1.0))
  assert not np.allclose(base, brighter, atol=1e-6)
  no_video = evaluate(variables, dict(batch, has_video=np.zeros(2, np.float32)))
  assert np.isfinite(np.asarray(no_video)).all()


def test_batch_norm_option_keeps_running_statistics():
  model = _build("cnn2", batch_norm=True)
  batch = batch_inputs.example_batch(4, seed=2, **SMALL)
  variables = _init(model, batch)
  assert "batch_stats" in variables
  logits, updated = jax.jit(lambda v, b: model.apply(
      v, b, train=True, rngs={"dropout": jax.random.key(0)}, mutable=["batch_stats"]))(
          variables, batch)
  assert logits.shape == (4, 2)
  before = jax.tree_util.tree_leaves(variables["batch_stats"])
  after = jax.tree_util.tree_leaves(updated["batch_stats"])
  assert any(not np.allclose(a, b) for a, b in zip(before, after))


def test_paper_size_parameter_counts_are_in_the_expected_range():
  batch = batch_inputs.example_batch(1)  # the study's shapes: 300x128 mel, 18x64x64x1 frames

  def count(name, **kwargs):
    model = _build(name, **kwargs)
    shapes = jax.eval_shape(lambda: _init(model, batch))
    return complexity.param_count(shapes["params"])

  # LSTM 50 over 3 x (22*29*8 mel + 1*14*14*64 frame) features holds most of it.
  fusion = count("fusion_cnn_3dcnn_lstm", size="paper")
  assert 3.0e6 < fusion < 4.5e6, fusion
  # Dense 1000 over 3*7*7*64 = 9408 conv features holds most of it.
  c3d = count("c3d")
  assert 8.5e6 < c3d < 10.5e6, c3d
  assert count("svm") == 79
  assert count("fusion_cnn_3dcnn_lstm") < fusion / 5  # the registered default is small


def test_flops_per_example_counts_a_linear_model_exactly_enough():
  model = _build("svm")
  batch = batch_inputs.example_batch(4)
  variables = _init(model, batch)
  flops = complexity.flops_per_example(model, variables, batch)
  assert 150 <= flops <= 200  # 78 multiply-adds, bias and the two scalings


def test_every_config_names_a_registered_model_that_builds():
  for name in EXPECTED_MODALITIES:
    config = importlib.import_module(f"configs.{name}").get_config()
    assert config.model == name
    assert config.optimizer in ("adam", "adamw", "rmsprop", "sgd")
    model = models.create(config.model, **config.model_kwargs.to_dict())
    assert isinstance(model, nn.Module)
  assert importlib.import_module("configs.svm").get_config().loss == "hinge"


def test_conv3d_as_2d_matches_a_native_3d_convolution():
  x = jax.random.normal(jax.random.key(0), (2, 5, 9, 8, 3))
  layer = encoders.Conv3dAs2d(4, (2, 3, 3))
  variables = layer.init(jax.random.key(1), x)
  kernel = variables["params"]["kernel"]
  expected = jax.lax.conv_general_dilated(
      x, kernel, (1, 1, 1), "VALID", dimension_numbers=("NDHWC", "DHWIO", "NDHWC"))
  expected = expected + variables["params"]["bias"]
  np.testing.assert_allclose(layer.apply(variables, x), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("window,strides", [((2, 2), (2, 2)), ((3, 3), (2, 2)),
                                            ((2, 2, 2), (2, 2, 2))])
def test_slice_max_pool_matches_reduce_window(window, strides):
  shape = (2, 7, 9, 3) if len(window) == 2 else (2, 5, 7, 9, 3)
  x = jax.random.normal(jax.random.key(0), shape)
  np.testing.assert_array_equal(encoders.max_pool(x, window, strides),
                                nn.max_pool(x, window, strides=strides, padding="VALID"))


def test_bad_inputs_fail_with_a_clear_message():
  model = _build("fusion_cnn_3dcnn_lstm")
  batch = batch_inputs.example_batch(2, **dict(SMALL, audio_frames=61))
  with pytest.raises(ValueError, match="cannot be cut into 3 equal segments"):
    _init(model, batch)
  with pytest.raises(KeyError, match="needs batch\\['mfcc_stats'\\]"):
    _build("svm").init(jax.random.key(0), {"log_mel": np.zeros((2, 60, 32))})
  with pytest.raises(ValueError, match="rank 3"):
    _build("lstm").init(jax.random.key(0), {"log_mel": np.zeros((2, 60))})


def test_cnn_pool_keeps_frequency_place_and_temporal_context_when_asked():
  """flatten gives the attention every band's features; context convs sit before it; the
  fusion model's audio branch with the same options has exactly cnn_pool's layers."""
  options = dict(input_pool=(1, 1), frequency_pooling="flatten", context_kernels=(5, 3))
  batch = batch_inputs.example_batch(2, **SMALL)
  params = _init(_build("cnn_pool", **options), batch)["params"]
  width = (SMALL["n_mels"] // 8) * 64                 # bands left after 3 pools x channels
  assert params["context0"]["kernel"].shape == (5, width, width)
  assert params["context1"]["kernel"].shape == (3, width, width)
  assert params["attention"]["kernel"].shape == (width, 1)
  assert "context0" not in _init(_build("cnn_pool", input_pool=(1, 1)), batch)["params"]
  fusion = _init(_build("fusion_pool_3dcnn", audio_input_pool=(1, 1),
                        audio_frequency_pooling="flatten", audio_context_kernels=(5, 3)), batch)
  assert (jax.tree.structure(fusion["params"]["audio"])
          == jax.tree.structure({k: v for k, v in params.items() if k != "head"}))
  with pytest.raises(ValueError, match="frequency_pooling must be one of"):
    _init(_build("cnn_pool", frequency_pooling="max"), batch)
