"""YAMNet in Flax: its front end, its weights converted from Google's TFLite file, and the
network itself against that file run by ai-edge-litert (LiteRT) on real clips."""
import filecmp
import json
import subprocess
import sys

import jax
import numpy as np
import pytest

from babycry_jax import yamnet_weights
from babycry_jax.data import media_audio, schema, yamnet_features
from babycry_jax.models import yamnet
from conftest import REPO_ROOT

REFERENCES = ("donateacry_cry_8k", "esc50_cat_8k", "robin_22k", "speech_16k")


@pytest.fixture(scope="module")
def yamnet_apply():
  model = yamnet.YamNet()
  params = yamnet_weights.load_params()
  return jax.jit(lambda patches: model.apply({"params": params}, patches))


def _scores(yamnet_apply, patches: np.ndarray) -> np.ndarray:
  _, logits = yamnet_apply(np.ascontiguousarray(patches, np.float32))
  return np.asarray(jax.nn.sigmoid(logits))


def _litert_scores(tflite_path, patches: np.ndarray) -> np.ndarray:
  from ai_edge_litert.interpreter import Interpreter
  interpreter = Interpreter(str(tflite_path))
  interpreter.allocate_tensors()
  source, = interpreter.get_input_details()
  target, = interpreter.get_output_details()
  out = []
  for patch in patches:
    interpreter.set_tensor(source["index"], patch[None].astype(np.float32))
    interpreter.invoke()
    out.append(interpreter.get_tensor(target["index"])[0].copy())
  return np.stack(out)


def test_depthwise_conv_as_shifted_sums_equals_the_grouped_conv():
  rng = np.random.default_rng(0)
  x = rng.standard_normal((3, 12, 9, 5)).astype(np.float32)   # odd sizes: TF's asymmetric padding
  kernel = rng.standard_normal((3, 3, 5)).astype(np.float32)
  for stride in (1, 2):
    grouped = jax.lax.conv_general_dilated(
        x, kernel[:, :, None, :], (stride, stride), "SAME",
        dimension_numbers=("NHWC", "HWIO", "NHWC"), feature_group_count=5)
    ours = yamnet.depthwise_conv3x3(x, kernel, stride)
    assert ours.shape == grouped.shape
    np.testing.assert_allclose(ours, grouped, atol=1e-5)


def test_the_network_maps_patches_to_embeddings_and_521_scores(yamnet_apply):
  patches = np.random.default_rng(1).normal(-3.0, 1.0, (4, 96, 64)).astype(np.float32)
  embeddings, logits = yamnet_apply(patches)
  assert embeddings.shape == (4, 1024) and logits.shape == (4, 521)
  assert float(np.min(embeddings)) >= 0.0 and float(np.max(embeddings)) <= 6.0   # mean of ReLU6
  assert len(yamnet_weights.class_names()) == 521
  assert yamnet_weights.class_names()[yamnet.CLASS_BABY_CRY] == "Baby cry, infant cry"
  with pytest.raises(ValueError, match="96, 64"):
    yamnet_apply(np.zeros((1, 90, 64), np.float32))


def test_front_end_equals_tensorflows_signal_ops(shared_yamnet):
  """The reference arrays were made with tf.signal (stft, linear_to_mel_weight_matrix, frame)."""
  np.testing.assert_allclose(yamnet_features.mel_matrix(),
                             np.load(shared_yamnet / "reference" / "mel_matrix_tf.npy"), atol=2e-5)
  for name in REFERENCES:
    with np.load(shared_yamnet / "reference" / f"{name}.npz") as ref:
      log_mel = yamnet_features.log_mel(ref["waveform_16k"])
      assert log_mel.shape == ref["log_mel"].shape
      np.testing.assert_allclose(log_mel, ref["log_mel"], atol=2e-3)
      patches = yamnet_features.patches(log_mel)
      assert patches.shape == ref["patches"].shape
      np.testing.assert_allclose(patches, ref["patches"], atol=2e-3)


def test_flax_yamnet_equals_litert_running_the_tflite_file(shared_yamnet, shared_data, yamnet_apply):
  """Clip scores (the mean over a clip's patches, as YAMNet scores a clip) agree to 0.02 on
  every class. A single patch's score agrees to one step of the int8 graph's output
  quantization: its logits are rounded to multiples of 0.308, so a float forward may land
  a step away (near p = 0.5 that is 0.077); LiteRT's own kernels (XNNPACK, the builtin
  ones) differ from each other by as much on these clips."""
  tflite = shared_yamnet / "yamnet_spectra_in.tflite"
  clips = []
  for name in REFERENCES:
    with np.load(shared_yamnet / "reference" / f"{name}.npz") as ref:
      clips.append((name, ref["patches"]))
  # And two clips decoded by the project's own media code from ../shared/data.
  spec = schema.preset("paper")
  for relative in ("real_world/esc50_other/cat/4-120160-A-5.flac",
                   "real_audio/household_speech/cmu_arctic_us_axb_a0006.wav"):
    audio = next(media_audio.iter_audio_16k(str(shared_data / relative), spec, [(0.0, 3.0)]))
    clips.append((relative, yamnet_features.patches(yamnet_features.log_mel(audio))))
  for name, patches in clips:
    ours, theirs = _scores(yamnet_apply, patches), _litert_scores(tflite, patches)
    assert np.abs(ours.mean(0) - theirs.mean(0)).max() <= 0.02, name
    logit_step = 0.30812797   # the scale of the int8 graph's last dense output
    confident = (theirs > 0.02) & (theirs < 0.98)
    ours_logit = np.log(ours / (1 - ours))
    theirs_logit = np.log(np.where(confident, theirs, 0.5) / (1 - np.where(confident, theirs, 0.5)))
    assert np.abs(ours_logit - theirs_logit)[confident].max() <= logit_step, name


def test_top_classes_of_real_clips(shared_yamnet, yamnet_apply):
  """A cat, a bird, read speech and a phone-recorded cry, as YAMNet hears them (clip scores)."""
  names = yamnet_weights.class_names()
  expected = {"esc50_cat_8k": {"Animal", "Cat", "Domestic animals, pets"},
              "robin_22k": {"Bird", "Bird vocalization, bird call, bird song"},
              "speech_16k": {"Speech"},
              "donateacry_cry_8k": {"Baby cry, infant cry", "Crying, sobbing"}}
  for name, wanted in expected.items():
    with np.load(shared_yamnet / "reference" / f"{name}.npz") as ref:
      clip = _scores(yamnet_apply, ref["patches"]).mean(0)
    top = [names[i] for i in np.argsort(-clip)[:5]]
    assert wanted <= set(top), (name, top)
    if name == "speech_16k":
      assert top[0] == "Speech"


def test_the_converter_writes_exactly_the_files_in_the_package(shared_yamnet, tmp_path):
  pytest.importorskip("tflite")
  out = tmp_path / "yamnet"
  done = subprocess.run(
      [sys.executable, "-m", "babycry_jax.convert_yamnet", f"--source_dir={shared_yamnet}",
       f"--output_dir={out}"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
  assert done.returncode == 0, done.stderr
  assert "3,729,481 parameters" in done.stdout
  names = [yamnet_weights.VARIABLES_FILE, yamnet_weights.CLASS_MAP_FILE,
           yamnet_weights.LICENSE_FILE, yamnet_weights.SOURCE_FILE]
  for name in names:
    assert filecmp.cmp(out / name, f"{yamnet_weights.PRETRAINED_DIR}/{name}", shallow=False), name
  source = json.loads((out / yamnet_weights.SOURCE_FILE).read_text())
  assert source["files"]["yamnet_spectra_in.tflite"]["sha256"] == (
      "0a266465c46718f3fcc4137366be82882a8c93bfcc4f0278581a11d11dddcdf9")
  assert "Apache License" in (out / yamnet_weights.LICENSE_FILE).read_text()


def test_the_converter_refuses_a_file_that_is_not_yamnet(shared_yamnet, tmp_path):
  pytest.importorskip("tflite")
  source = tmp_path / "src"
  source.mkdir()
  for name in ("yamnet_class_map.csv", "LICENSE"):
    (source / name).write_bytes((shared_yamnet / name).read_bytes())
  (source / "yamnet_spectra_in.tflite").write_bytes(b"\x00" * 64)
  done = subprocess.run(
      [sys.executable, "-m", "babycry_jax.convert_yamnet", f"--source_dir={source}",
       f"--output_dir={tmp_path / 'out'}"], cwd=REPO_ROOT, capture_output=True, text=True,
      timeout=300)
  assert done.returncode == 1
  assert "error:" in done.stderr and "Traceback" not in done.stderr
  assert not (tmp_path / "out" / yamnet_weights.VARIABLES_FILE).exists()
