"""The study's segment fusion models with an LSTM over segments: CNN+CNN+LSTM and
CNN+3DCNN+LSTM (its best model and our default)."""
from __future__ import annotations

from typing import Any, ClassVar, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from babycry_jax import models
from babycry_jax.models.batch_inputs import Batch
from babycry_jax.models.encoders import ConvEncoder, ConvNet, Dtype
from babycry_jax.models.segment_fusion import segment_features, tiled_cnn


class SegmentLstmHead(nn.Module):
  """LSTM over the segment features (last output), dropout, dense 2.

  Attributes:
    units: LSTM units.
    dropout_rate: dropout on the LSTM's last output.
    dtype: computation dtype; logits are float32.
  """
  units: int = 50
  dropout_rate: float = 0.2
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, segments: jax.Array, train: bool) -> jax.Array:
    """[B, S, D] -> float32 logits [B, 2]."""
    # Unrolled over the few segments: as fast, and XLA's FLOP count then sees every step.
    x = nn.RNN(nn.OptimizedLSTMCell(self.units, dtype=self.dtype), unroll=segments.shape[1],
               name="lstm")(segments.astype(self.dtype))[:, -1]
    x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
    return nn.Dense(2, dtype=self.dtype, name="logits")(x).astype(jnp.float32)


@models.register("fusion_cnn_cnn_lstm")
class FusionCnnCnnLstm(ConvNet):
  """The CNN+CNN+FC segment features (2D CNN on mel, 2D CNN on tiled frames, dense 256
  each), joined per segment, LSTM 50 over the segments, dropout .2, dense 2.

  The study also put an L1 penalty of 0.01 on the last dense kernel; losses belong
  to the trainer, so it is not reproduced here.

  Attributes:
    num_segments: equal parts the clip is cut into (3).
    conv_features: channels of the two convs of each CNN.
    segment_dense: width of each CNN's dense output.
    lstm_units: LSTM units.
    dropout_rate: dropout before the last dense layer.
    (batch_norm, bn_axis_name, dtype: see ConvNet.)
  """
  modalities: ClassVar[tuple[str, ...]] = ("audio", "video")
  num_segments: int = 3
  conv_features: Sequence[int] = (32, 8)
  segment_dense: int = 256
  lstm_units: int = 50
  dropout_rate: float = 0.2

  @nn.compact
  def __call__(self, batch: Batch, train: bool = False) -> jax.Array:
    """log_mel [B, T, n_mels], frames [B, F, H, W, C], has_* [B] -> float32 logits [B, 2]."""
    encoders = [tiled_cnn(self.conv_features, self.segment_dense, name, self.batch_norm,
                          self.bn_axis_name, self.dtype) for name in ("audio_cnn", "video_cnn")]
    features = segment_features(batch, "fusion_cnn_cnn_lstm", *encoders, self.num_segments,
                                tile_video=True, train=train)
    return SegmentLstmHead(self.lstm_units, self.dropout_rate, self.dtype,
                           name="head")(features, train)


# Settings of fusion_cnn_3dcnn_lstm by size. "paper" is the study's network; "small"
# (the default) averages the log-mel down 2x in time and 4x in mel bands and the
# frames 2x per side, and uses 8-16 conv channels: ~20x less training time per
# example on a 2-core CPU, so the embedded default trains in minutes.
CNN_3DCNN_LSTM_SIZES = {
    "paper": dict(audio_conv_features=(32, 8), video_conv_features=(32, 64),
                  audio_input_pool=(1, 1), video_input_pool=(1, 1, 1)),
    "small": dict(audio_conv_features=(8, 8), video_conv_features=(8, 16),
                  audio_input_pool=(2, 4), video_input_pool=(1, 2, 2)),
}


@models.register("fusion_cnn_3dcnn_lstm")
class FusionCnn3dCnnLstm(ConvNet):
  """Per segment a 2D CNN on the mel (conv32 5x5, pool 2, conv8 5x5, pool 2) and a 3D CNN
  on the frames (conv3d 32 5x5x2, pool 2, conv3d 64 3x3x1, pool 2), flattened and joined
  per segment, LSTM 50 over the segments, dropout .2, dense 2.

  At the study's shapes a segment is mel 100x128 and 6 frames of 64x64. The
  registered default is the "small" size; `size="paper"` gives the study's
  network. Settings left as None come from the size (CNN_3DCNN_LSTM_SIZES);
  any given one overrides it.

  Attributes:
    size: "small" (default) or "paper".
    num_segments: equal parts the clip is cut into (3).
    audio_conv_features: channels of the 2D CNN's convs.
    video_conv_features: channels of the 3D CNN's convs.
    audio_input_pool: (time, mel) average-pooling of the log-mel before its CNN.
    video_input_pool: (frames, H, W) average-pooling of the frames before their CNN.
    lstm_units: LSTM units.
    dropout_rate: dropout before the last dense layer.
    (batch_norm, bn_axis_name, dtype: see ConvNet.)
  """
  modalities: ClassVar[tuple[str, ...]] = ("audio", "video")
  size: str = "small"
  num_segments: int = 3
  audio_conv_features: Sequence[int] | None = None
  video_conv_features: Sequence[int] | None = None
  audio_input_pool: Sequence[int] | None = None
  video_input_pool: Sequence[int] | None = None
  lstm_units: int = 50
  dropout_rate: float = 0.2

  def setting(self, field: str) -> Any:
    """The value of a size-dependent attribute: the one given, else the size's."""
    if self.size not in CNN_3DCNN_LSTM_SIZES:
      raise ValueError(f"fusion_cnn_3dcnn_lstm: unknown size {self.size!r}; "
                       f"choose one of {sorted(CNN_3DCNN_LSTM_SIZES)}")
    value = getattr(self, field)
    return CNN_3DCNN_LSTM_SIZES[self.size][field] if value is None else tuple(value)

  @nn.compact
  def __call__(self, batch: Batch, train: bool = False) -> jax.Array:
    """log_mel [B, T, n_mels], frames [B, F, H, W, C], has_* [B] -> float32 logits [B, 2]."""
    norm = dict(batch_norm=self.batch_norm, bn_axis_name=self.bn_axis_name, dtype=self.dtype)
    audio_features = self.setting("audio_conv_features")
    video_features = self.setting("video_conv_features")
    n_audio, n_video = len(audio_features), len(video_features)
    audio_cnn = ConvEncoder(audio_features, [(5, 5)] * n_audio, [(2, 2)] * n_audio,
                            input_pool=self.setting("audio_input_pool"), name="audio_cnn", **norm)
    video_cnn = ConvEncoder(video_features, [(2, 5, 5)] + [(1, 3, 3)] * (n_video - 1),
                            [(2, 2, 2)] * n_video, input_pool=self.setting("video_input_pool"),
                            name="video_cnn", **norm)
    features = segment_features(batch, "fusion_cnn_3dcnn_lstm", audio_cnn, video_cnn,
                                self.num_segments, tile_video=False, train=train)
    return SegmentLstmHead(self.lstm_units, self.dropout_rate, self.dtype,
                           name="head")(features, train)
