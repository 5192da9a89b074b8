"""The record schema: one source for every feature's name, dtype and shape.

Preprocessing encodes records with `features_dict(spec)`, the input pipeline
and detection parse them with the same dict, and `FeatureSpec` (stored in the
dataset's metadata) carries every number that shaped the features.
"""
from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING, Any

import numpy as np

from babycry_jax.data import storage, unfinished_builds, yamnet_features

if TYPE_CHECKING:
  import tensorflow_datasets as tfds

LABELS = ("not_crying", "crying")
CRYING = LABELS.index("crying")

# Record keys of the features a window gives (features_dict holds their dtypes and shapes).
LOG_MEL, MFCC_STATS, FRAMES = "audio/log_mel", "audio/mfcc_stats", "video/frames"
YAMNET_LOG_MEL = "audio/yamnet_log_mel"   # YAMNet's own front end (data.yamnet_features)
HAS_AUDIO, HAS_VIDEO = "has_audio", "has_video"
WINDOW_FEATURES = (LOG_MEL, MFCC_STATS, YAMNET_LOG_MEL, FRAMES, HAS_AUDIO, HAS_VIDEO)
PRESENCE = {"audio": HAS_AUDIO, "video": HAS_VIDEO}  # the flag of each modality's track


# How a record feature becomes a model input: standardised with the train split's
# statistics, passed as stored (float32), or a 0/1 presence flag.
NORMALIZED, RAW, FLAG = "normalized", "raw", "flag"


@dataclasses.dataclass(frozen=True)
class ModelInput:
  """How the loader makes one model input from a record."""
  record_key: str            # the record feature it is read from
  rank: int                  # with the batch axis
  modality: str              # "audio" or "video": zeros when that track is missing or hidden
  crop: str | None = None    # config field cropping its first axis (from the window's start)
  kind: str = NORMALIZED     # NORMALIZED, RAW or FLAG

  @property
  def normalized(self) -> bool:
    return self.kind == NORMALIZED


# What a model reads (log_mel [B, audio_frames, n_mels], mfcc_stats [B, 78], yamnet_log_mel
# [B, yamnet_frames, 64] as YAMNet's weights expect it, frames [B, video_frames, H, W, C],
# has_audio/has_video [B]).
MODEL_INPUT_SPECS = {
    "log_mel": ModelInput(LOG_MEL, 3, "audio", crop="audio_frames"),
    "mfcc_stats": ModelInput(MFCC_STATS, 2, "audio"),
    "yamnet_log_mel": ModelInput(YAMNET_LOG_MEL, 3, "audio", kind=RAW),
    "frames": ModelInput(FRAMES, 5, "video", crop="video_frames"),
    "has_audio": ModelInput(HAS_AUDIO, 1, "audio", kind=FLAG),
    "has_video": ModelInput(HAS_VIDEO, 1, "video", kind=FLAG),
}
MODEL_INPUTS = tuple(MODEL_INPUT_SPECS)
MODEL_INPUT_RANKS = {k: v.rank for k, v in MODEL_INPUT_SPECS.items()}
MODALITY_INPUTS = {m: tuple(k for k, v in MODEL_INPUT_SPECS.items() if v.modality == m)
                   for m in PRESENCE}
# Features normalised with train-split statistics (metadata["stats"]).
NORMALIZED_FEATURES = tuple(v.record_key for v in MODEL_INPUT_SPECS.values() if v.normalized)


@dataclasses.dataclass(frozen=True)
class FeatureSpec:
  """How a window of raw media becomes a record (all sizes in samples/frames/pixels)."""
  preset: str = "paper"
  window_s: float = 4.0          # length of one record's window
  hop_s: float = 4.0             # step between windows of a long recording
  sample_rate: int = 8000        # audio is resampled to this, mono
  stft_window: int = 800         # 100 ms at 8 kHz
  stft_hop: int = 80             # 10 ms at 8 kHz
  stft_window_fn: str = "hamming"
  n_mels: int = 128
  n_mfcc: int = 13
  num_frames: int = 18           # video frames sampled evenly over the window
  frame_size: int = 64           # frames are resized to frame_size x frame_size
  channels: int = 1              # 1 = gray, 3 = RGB
  short_policy: str = "pad"      # inputs shorter than a window: "pad" or "skip"
  min_duration_s: float = 1.0    # shorter inputs are rejected as too short

  @property
  def window_samples(self) -> int:
    return int(round(self.window_s * self.sample_rate))

  @property
  def mel_frames(self) -> int:
    # The waveform is padded at the end by (stft_window - stft_hop) samples so
    # that there is exactly one uncentered STFT frame per hop: 4 s -> 400.
    return self.window_samples // self.stft_hop

  @property
  def yamnet_frames(self) -> int:
    """Frames of YAMNet's log-mel of one window (398 for 4 s)."""
    return yamnet_features.num_frames(int(round(self.window_s * yamnet_features.SAMPLE_RATE)))

  @property
  def mfcc_stats_dim(self) -> int:
    # 13 MFCC + delta + delta-delta, each summarised by mean and variance.
    return self.n_mfcc * 3 * 2

  def __post_init__(self):
    # A spec is refused where it is made, before any media is read.
    rules = [
        ("window_s", self.window_s > 0, "> 0"), ("hop_s", self.hop_s > 0, "> 0"),
        ("sample_rate", self.sample_rate >= 1, ">= 1"),
        ("stft_hop", 1 <= self.stft_hop <= self.stft_window, "between 1 and stft_window"),
        ("n_mels", self.n_mels >= 1, ">= 1"), ("n_mfcc", self.n_mfcc >= 1, ">= 1"),
        ("num_frames", self.num_frames >= 1, ">= 1"), ("frame_size", self.frame_size >= 1, ">= 1"),
        ("channels", self.channels in (1, 3), "1 (gray) or 3 (RGB)"),
        ("short_policy", self.short_policy in ("pad", "skip"), "'pad' or 'skip'"),
        ("min_duration_s", self.min_duration_s >= 0, ">= 0"),
        ("window_s", self.window_s <= 0 or self.window_samples >= self.stft_window,
         f"at least one STFT window, {self.stft_window / self.sample_rate:g} s"),
    ]
    bad = [f"{name}={getattr(self, name)!r} (must be {allowed})"
           for name, ok, allowed in rules if not ok]
    if bad:
      raise ValueError("bad feature spec: " + "; ".join(bad))

  def to_json(self) -> dict[str, Any]:
    return dataclasses.asdict(self)

  @classmethod
  def from_json(cls, d: dict[str, Any]) -> "FeatureSpec":
    return cls(**d)


PRESETS = {
    "paper": FeatureSpec(),
    "rgb": FeatureSpec(preset="rgb", channels=3),
}


def preset(name: str, **overrides) -> FeatureSpec:
  if name not in PRESETS:
    raise ValueError(f"unknown feature preset {name!r}; choose one of {sorted(PRESETS)}")
  return dataclasses.replace(PRESETS[name], **overrides)


# The on-disk record layout, stored in metadata.json. Version 2 keeps the video
# frames as one bytes value: parsing 73k uint8 pixels from an int64 varint list
# (version 1) was most of the loader's time. Version 3 adds YAMNet's log-mel (as bytes too).
RECORD_FORMAT = 3


def frames_shape(spec: FeatureSpec) -> tuple[int, int, int, int]:
  return (spec.num_frames, spec.frame_size, spec.frame_size, spec.channels)


def yamnet_log_mel_shape(spec: FeatureSpec) -> tuple[int, int]:
  return (spec.yamnet_frames, yamnet_features.N_MELS)


# Features stored as one bytes value holding their array (dtype on disk, shape of a spec): half
# the bytes of a float16 list, which the wire format widens to 32-bit floats, and no parsing.
BYTES_FEATURES = {FRAMES: (np.uint8, frames_shape), YAMNET_LOG_MEL: (np.float16, yamnet_log_mel_shape)}


def empty_window_features(spec: FeatureSpec) -> dict[str, Any]:
  """The features of a window with neither track: zeros, both has_* flags False."""
  return {
      LOG_MEL: np.zeros((spec.mel_frames, spec.n_mels), np.float16),
      MFCC_STATS: np.zeros((spec.mfcc_stats_dim,), np.float32),
      YAMNET_LOG_MEL: np.zeros(yamnet_log_mel_shape(spec), np.float16),
      FRAMES: np.zeros(frames_shape(spec), np.uint8),
      HAS_AUDIO: False, HAS_VIDEO: False,
  }


def decode_bytes_features(record: dict[str, Any], spec: FeatureSpec) -> dict[str, Any]:
  """A parsed record with its features stored as raw bytes (BYTES_FEATURES) turned into
  arrays (in place): the frames uint8, YAMNet's log-mel float16 widened to float32."""
  for key, (dtype, shape_of) in BYTES_FEATURES.items():
    value = np.frombuffer(record[key], dtype).reshape(shape_of(spec))
    record[key] = value.astype(np.float32) if dtype == np.float16 else value
  return record


def features_dict(spec: FeatureSpec) -> "tfds.features.FeaturesDict":
  """The TFDS schema of one record (TF-free: Tensor/ClassLabel/Text/Scalar only)."""
  import tensorflow_datasets as tfds   # imported here: detection starts without it
  return tfds.features.FeaturesDict({
      "clip_id": tfds.features.Text(),
      "source_id": tfds.features.Text(),
      "label": tfds.features.ClassLabel(names=list(LABELS)),
      "start_s": tfds.features.Scalar(np.float32),
      "duration_s": tfds.features.Scalar(np.float32),
      "padded": tfds.features.Scalar(np.bool_),
      LOG_MEL: tfds.features.Tensor(shape=(spec.mel_frames, spec.n_mels), dtype=np.float16),
      MFCC_STATS: tfds.features.Tensor(shape=(spec.mfcc_stats_dim,), dtype=np.float32),
      YAMNET_LOG_MEL: tfds.features.Tensor(shape=yamnet_log_mel_shape(spec), dtype=np.float16,
                                           encoding=tfds.features.Encoding.BYTES),
      FRAMES: tfds.features.Tensor(
          shape=frames_shape(spec), dtype=np.uint8, encoding=tfds.features.Encoding.BYTES),
      HAS_AUDIO: tfds.features.Scalar(np.bool_),
      HAS_VIDEO: tfds.features.Scalar(np.bool_),
  })


def shard_name(split: str, index: int, num_shards: int) -> str:
  return f"babycry-{split}.tfrecord-{index:05d}-of-{num_shards:05d}"


def index_path(shard_path: str) -> str:
  """The tfrecord index file (`offset length` per line) that sits beside a shard."""
  return shard_path + ".index"


METADATA_FILE = "metadata.json"
ERRORS_FILE = "errors.jsonl"


def read_metadata(dataset_dir: str) -> dict[str, Any]:
  path = storage.join(dataset_dir, METADATA_FILE)
  if not storage.exists(path):
    raise FileNotFoundError(unfinished_builds.describe(dataset_dir) or (
        f"{dataset_dir} is not a babycry dataset (no {METADATA_FILE}); "
        "build one with `python -m preprocess --input DIR --output DATASET_DIR`"))
  metadata = json.loads(storage.read_text(path))
  found = metadata.get("record_format", 1)
  if found != RECORD_FORMAT:
    raise ValueError(
        f"{dataset_dir} holds records of format {found}; this version reads format "
        f"{RECORD_FORMAT}. Rebuild it from its media: `python -m preprocess --input MEDIA "
        f"--output {dataset_dir} --overwrite`")
  return metadata
