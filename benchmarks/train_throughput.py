"""Training throughput: our pmapped train step against the study's Keras model, per family.

    python -m benchmarks --only train [--quick]

For each model family (audio CNN, LSTM, 3D CNN, CNN+3DCNN+LSTM fusion) both
sides train the same architecture at the paper's input shapes (log-mel 300x128,
frames 18x64x64x1) with the config's batch size and optimizer:

- ours: babycry_jax.train_step.build_train_step under the pmap strategy on every local
  device (one CPU device unless XLA_FLAGS asks for more), fed a host batch
  shaped [local_devices, per_device_batch, ...] each step, as the trainer does;
- the baseline: benchmarks/keras_reference.py in the TensorFlow venv
  (benchmarks/tf_env.py), `model.train_on_batch` on the same host batch.

Both follow benchmarks.Protocol (warm-up steps, then the median of timed runs)
and use every core for intra-op work.
"""
from __future__ import annotations

import dataclasses
import importlib
import json
import os
from typing import Any, Optional, Sequence

import numpy as np

from benchmarks import Protocol, time_calls

AUDIO_FRAMES = 300   # the study's 3 s of log-mel
VIDEO_FRAMES = 18    # the study's 18 frames
N_MELS = 128
FRAME_SIZE = 64


@dataclasses.dataclass(frozen=True)
class Family:
  """One model family: our registered model and config, and the Keras model it is timed against.

  Attributes:
    name: the family, as results name it.
    config: module under configs/ whose optimizer, loss and batch size are used.
    model_kwargs: overrides of the config's model_kwargs (the study's network size).
    keras_model: name of the builder in benchmarks/keras_reference.py.
  """
  name: str
  config: str
  model_kwargs: tuple[tuple[str, Any], ...] = ()
  keras_model: str = ""


FAMILIES = (
    Family("audio_cnn", "cnn6", keras_model="cnn6"),
    Family("lstm", "lstm", keras_model="lstm"),
    Family("3dcnn", "c3d", keras_model="c3d"),
    # The config trains the "small" size by default; the study's network is "paper".
    Family("fusion_cnn_3dcnn_lstm", "fusion_cnn_3dcnn_lstm", (("size", "paper"),),
           keras_model="fusion_cnn_3dcnn_lstm"),
)
FAMILY_NAMES = tuple(f.name for f in FAMILIES)


def family(name: str) -> Family:
  for f in FAMILIES:
    if f.name == name:
      return f
  raise ValueError(f"unknown model family {name!r}; choose from {', '.join(FAMILY_NAMES)}")


def load_config(fam: Family, batch_size: Optional[int] = None, audio_frames: int = AUDIO_FRAMES,
                video_frames: int = VIDEO_FRAMES):
  """The family's config with the study's network size and paper input lengths."""
  config = importlib.import_module(f"configs.{fam.config}").get_config()
  with config.unlocked():
    for key, value in fam.model_kwargs:
      config.model_kwargs[key] = value
    config.audio_frames = audio_frames
    config.video_frames = video_frames
    if batch_size is not None:
      config.batch_size = batch_size
  return config


def host_batch(batch_size: int, local_devices: int, audio_frames: int = AUDIO_FRAMES,
               video_frames: int = VIDEO_FRAMES, n_mels: int = N_MELS,
               frame_size: int = FRAME_SIZE, seed: int = 0) -> dict[str, np.ndarray]:
  """A random training batch as the input pipeline hands it over.

  Returns:
    log_mel [D, B/D, audio_frames, n_mels], mfcc_stats [D, B/D, 78],
    frames [D, B/D, video_frames, frame_size, frame_size, 1] (float32),
    has_audio, has_video, weight [D, B/D] float32 ones, label [D, B/D] int32;
    D = local_devices.
  """
  if batch_size % local_devices:
    raise ValueError(f"batch size {batch_size} is not divisible by {local_devices} local devices")
  from babycry_jax.models.batch_inputs import example_batch
  batch = example_batch(batch_size, audio_frames, n_mels, video_frames=video_frames,
                        frame_size=frame_size, seed=seed)
  batch["label"] = (np.arange(batch_size) % 2).astype(np.int32)
  batch["weight"] = np.ones((batch_size,), np.float32)
  return {k: v.reshape((local_devices, -1) + v.shape[1:]) for k, v in batch.items()}


class OurStep:
  """The real pmapped train step of one config, with its state and a fixed host batch."""

  def __init__(self, config, n_mels: int = N_MELS, frame_size: int = FRAME_SIZE):
    """config: a training config; its audio_frames and video_frames set the input lengths."""
    import jax

    from babycry_jax import strategies
    from babycry_jax.data import schema
    from babycry_jax.train_state import create_model, create_train_state
    from babycry_jax.train_step import build_train_step

    self.config = config
    spec = schema.preset("paper", n_mels=n_mels, frame_size=frame_size)
    self.strategy = strategies.create("pmap")
    model = create_model(config, bn_axis_name=self.strategy.axis_name)
    state = create_train_state(config, model, spec, steps_per_epoch=100)
    self.param_count = int(sum(np.size(x) for x in jax.tree_util.tree_leaves(state.params)))
    self.step_fn = build_train_step(config, model, self.strategy)
    self.state = self.strategy.replicate(state)
    self.local_devices = jax.local_device_count()
    self.batch = host_batch(config.batch_size, self.local_devices, config.audio_frames,
                            config.video_frames, n_mels, frame_size)
    self.metrics = None
    self._compiled = None

  def __call__(self):
    self.state, self.metrics = self.step_fn(self.state, self.strategy.shard_batch(self.batch))
    return self.metrics

  def compiled(self):
    """The compiled executable of the step (for XLA's cost analysis and HLO), compiled once."""
    if self._compiled is None:
      import jax
      # Lowering only reads shapes; host copies keep the donated live state untouched.
      state = jax.tree.map(np.asarray, self.state)
      self._compiled = self.step_fn.lower(state, self.strategy.shard_batch(self.batch)).compile()
    return self._compiled

  def train_flops_per_example(self) -> float:
    """XLA's FLOP count of one compiled step (one device's share) / per-device batch."""
    analysis = self.compiled().cost_analysis()
    if isinstance(analysis, (list, tuple)):
      analysis = analysis[0] if analysis else {}
    if not analysis or "flops" not in analysis:
      raise RuntimeError("XLA's cost analysis reported no FLOP count on this backend")
    return float(analysis["flops"]) / (self.config.batch_size // self.local_devices)


def _wait(metrics) -> None:
  import jax
  jax.block_until_ready(metrics)


def measure_ours(fam: Family, protocol: Protocol, batch_size: Optional[int] = None,
                 return_step: bool = False, **shape_overrides) -> Any:
  """Examples/s of our pmapped train step for one family.

  Args:
    fam: the family.
    protocol: warm-up and timed steps.
    batch_size: overrides the config's.
    return_step: also return the timed OurStep (for FLOP counts and profiles).
    **shape_overrides: audio_frames, video_frames, n_mels, frame_size (tests use small ones).

  Returns:
    {"examples_per_s", "seconds_per_step", "runs_s", "warmup_s", "batch_size",
     "local_devices", "model", "optimizer", "param_count", "final_loss"}, and the
    OurStep when return_step.
  """
  import jax
  config = load_config(fam, batch_size, shape_overrides.pop("audio_frames", AUDIO_FRAMES),
                       shape_overrides.pop("video_frames", VIDEO_FRAMES))
  step = OurStep(config, **shape_overrides)
  timing = time_calls(step, _wait, protocol)
  loss = float(np.asarray(jax.device_get(step.metrics["loss"])).reshape(-1)[0])
  result = {
      "examples_per_s": config.batch_size / timing["seconds_per_call"],
      "seconds_per_step": timing["seconds_per_call"],
      "runs_s": timing["runs_s"],
      "warmup_s": timing["warmup_s"],
      "batch_size": config.batch_size,
      "local_devices": step.local_devices,
      "model": config.model,
      "model_kwargs": config.model_kwargs.to_dict(),
      "optimizer": config.optimizer,
      "param_count": step.param_count,
      "final_loss": loss,
  }
  return (result, step) if return_step else result


def keras_spec(fam: Family, batch_size: Optional[int] = None) -> dict[str, Any]:
  """What keras_reference.py needs to build the same training set-up: model, optimizer, shapes."""
  config = load_config(fam, batch_size)
  return {
      "model": fam.keras_model,
      "batch_size": config.batch_size,
      "optimizer": config.optimizer,
      "learning_rate": config.learning_rate,
      "grad_clip_norm": config.grad_clip_norm,
      "weight_decay": config.weight_decay,
      "audio_frames": AUDIO_FRAMES,
      "video_frames": VIDEO_FRAMES,
      "n_mels": N_MELS,
      "frame_size": FRAME_SIZE,
  }


def measure_keras(fam: Family, protocol: Protocol, batch_size: Optional[int] = None,
                  threads: Optional[int] = None) -> dict[str, Any]:
  """Examples/s of the study's Keras model, in the TensorFlow venv's own process."""
  from benchmarks import tf_env
  spec = keras_spec(fam, batch_size)
  args = ["-m", "benchmarks.keras_reference", "--spec", json.dumps(spec),
          "--threads", str(threads or os.cpu_count())] + protocol.to_args()
  return tf_env.run_json(args)


def run(families: Sequence[str] = FAMILY_NAMES, protocol: Protocol = Protocol(),
        keras: bool = True, verbose: bool = True) -> dict[str, Any]:
  """Measures every family on both sides.

  Returns:
    {family: {"ours": measure_ours(...), "keras": measure_keras(...) or None,
              "speedup": ours / keras examples/s or None}}
  """
  results = {}
  for name in families:
    fam = family(name)
    ours = measure_ours(fam, protocol)
    if verbose:
      print(f"[train] {name}: ours {ours['examples_per_s']:.1f} ex/s "
            f"(batch {ours['batch_size']}, {ours['seconds_per_step'] * 1e3:.0f} ms/step)", flush=True)
    baseline = measure_keras(fam, protocol) if keras else None
    speedup = None
    if baseline is not None:
      speedup = ours["examples_per_s"] / baseline["examples_per_s"]
      if verbose:
        print(f"[train] {name}: keras {baseline['examples_per_s']:.1f} ex/s -> {speedup:.2f}x",
              flush=True)
    results[name] = {"ours": ours, "keras": baseline, "speedup": speedup}
  return results
