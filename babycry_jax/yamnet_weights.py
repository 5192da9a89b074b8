"""YAMNet's pretrained weights: converted from Google's int8 TFLite file, shipped in the package.

babycry_jax/pretrained/yamnet/ holds
  variables.msgpack   {"params": ...} of models.yamnet.YamNet (flax.serialization),
                      float32, dequantized from the TFLite file
  class_map.csv       index, AudioSet id and name of the 521 outputs
  LICENSE             the Apache License 2.0 both come under
  SOURCE.json         where they came from, the source files' sha256, what was done to them
written by `python -m babycry_jax.convert_yamnet` (`convert` and `write` below), which
needs the `tflite` package (a flatbuffer reader, no TensorFlow): pip install -e ".[dev]".
"""
from __future__ import annotations

import csv
import functools
import hashlib
import io
import json
import os
from typing import Any

import flax.serialization
import numpy as np

from babycry_jax.data import storage
from babycry_jax.models import yamnet

# config.warm_start.source that names these weights.
WARM_START_SOURCE = "yamnet"
PRETRAINED_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pretrained", "yamnet")
VARIABLES_FILE, CLASS_MAP_FILE = "variables.msgpack", "class_map.csv"
LICENSE_FILE, SOURCE_FILE = "LICENSE", "SOURCE.json"
# What the converter accepts: the graph of models.yamnet, with ReLU6 fused into every conv.
_RELU6 = 3   # tflite.ActivationFunctionType.RELU6


class ConversionError(ValueError):
  """The TFLite file is not the YAMNet graph this port expects."""


def _dequantized(model, graph, tensor_index: int) -> np.ndarray:
  """float32 (q - zero_point) * scale, per channel along the tensor's quantized dimension."""
  tensor = graph.Tensors(tensor_index)
  dtype = {9: np.int8, 2: np.int32}.get(tensor.Type())   # tflite.TensorType INT8, INT32
  if dtype is None:
    raise ConversionError(f"tensor {tensor.Name().decode()} has type {tensor.Type()}, "
                          "not int8 or int32")
  raw = model.Buffers(tensor.Buffer()).DataAsNumpy()
  values = np.frombuffer(raw.tobytes(), dtype).reshape(tensor.ShapeAsNumpy())
  quant = tensor.Quantization()
  axis = quant.QuantizedDimension()
  shape = [1] * values.ndim
  shape[axis] = -1
  scale = quant.ScaleAsNumpy().astype(np.float32).reshape(shape)
  zero_point = quant.ZeroPointAsNumpy().astype(np.float32).reshape(shape)
  return ((values.astype(np.float32) - zero_point) * scale).astype(np.float32)


def _weighted_ops(tflite_bytes: bytes) -> list[tuple[str, int, np.ndarray, np.ndarray]]:
  """(op name, stride, dequantized weights, bias) of every conv and dense op, in graph order."""
  import tflite   # only the converter needs it
  if tflite_bytes[4:8] != b"TFL3":
    raise ConversionError("not a TensorFlow Lite flatbuffer (no TFL3 identifier)")
  model = tflite.Model.GetRootAsModel(tflite_bytes, 0)
  if model.SubgraphsLength() != 1:
    raise ConversionError(f"the file has {model.SubgraphsLength()} subgraphs, YAMNet's has one")
  graph = model.Subgraphs(0)
  kinds = {tflite.BuiltinOperator.CONV_2D: ("conv", tflite.Conv2DOptions),
           tflite.BuiltinOperator.DEPTHWISE_CONV_2D: ("depthwise", tflite.DepthwiseConv2DOptions),
           tflite.BuiltinOperator.FULLY_CONNECTED: ("dense", None)}
  ops = []
  for i in range(graph.OperatorsLength()):
    op = graph.Operators(i)
    code = model.OperatorCodes(op.OpcodeIndex())
    kind = kinds.get(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()))
    if kind is None:
      continue
    name, options_type = kind
    stride = 1
    if options_type is not None:
      options = options_type()
      options.Init(op.BuiltinOptions().Bytes, op.BuiltinOptions().Pos)
      if options.StrideH() != options.StrideW():
        raise ConversionError(f"operator {i} ({name}) has unequal strides")
      if options.FusedActivationFunction() != _RELU6:
        raise ConversionError(f"operator {i} ({name}) is not followed by ReLU6")
      stride = options.StrideH()
    inputs = op.InputsAsNumpy()
    ops.append((name, stride, _dequantized(model, graph, inputs[1]),
                _dequantized(model, graph, inputs[2])))
  return ops


def convert(tflite_bytes: bytes) -> dict[str, Any]:
  """The params of models.yamnet.YamNet from YAMNet's int8 TFLite flatbuffer, dequantized.

  Raises:
    ConversionError: the graph's layers, strides or activations are not YAMNet's.
  """
  ops = _weighted_ops(tflite_bytes)
  expected = (["conv"] + ["depthwise", "conv"] * (len(yamnet.LAYERS) - 1) + ["dense"])
  if [name for name, *_ in ops] != expected:
    raise ConversionError(f"the graph's weighted operators are {[n for n, *_ in ops]}, "
                          "not YAMNet's conv, 13 separable blocks and a dense layer")
  (_, stride, kernel, bias), rest = ops[0], ops[1:]
  if stride != yamnet.LAYERS[0][0] or kernel.shape[0] != yamnet.LAYERS[0][1]:
    raise ConversionError(f"the first conv has stride {stride} and {kernel.shape[0]} filters")
  params: dict[str, Any] = {"conv0": {"kernel": kernel.transpose(1, 2, 3, 0), "bias": bias}}
  for i, (stride, features) in enumerate(yamnet.LAYERS[1:], start=1):
    (_, dw_stride, dw_kernel, dw_bias), (_, _, pw_kernel, pw_bias) = rest[2 * i - 2:2 * i]
    if dw_stride != stride or pw_kernel.shape[0] != features:
      raise ConversionError(f"block {i}: stride {dw_stride} and {pw_kernel.shape[0]} filters, "
                            f"expected {stride} and {features}")
    params[f"block{i}"] = {"depthwise_kernel": dw_kernel[0], "depthwise_bias": dw_bias,
                           "pointwise": {"kernel": pw_kernel[:, 0, 0, :].T, "bias": pw_bias}}
  _, _, fc_kernel, fc_bias = rest[-1]
  if fc_kernel.shape != (yamnet.NUM_CLASSES, yamnet.EMBEDDING_DIM):
    raise ConversionError(f"the dense layer has shape {fc_kernel.shape}")
  params["classifier"] = {"kernel": fc_kernel.T.copy(), "bias": fc_bias}
  return params


def sha256(data: bytes) -> str:
  return hashlib.sha256(data).hexdigest()


def write(params: dict[str, Any], out_dir: str, *, class_map_csv: str, license_text: str,
          source: dict[str, Any]) -> list[str]:
  """Writes the four files of PRETRAINED_DIR into out_dir; returns their paths."""
  os.makedirs(out_dir, exist_ok=True)
  files = {VARIABLES_FILE: flax.serialization.msgpack_serialize({"params": params}),
           CLASS_MAP_FILE: class_map_csv.encode(), LICENSE_FILE: license_text.encode(),
           SOURCE_FILE: (json.dumps(source, indent=1) + "\n").encode()}
  paths = []
  for name, data in files.items():
    path = os.path.join(out_dir, name)
    with open(path + ".tmp", "wb") as f:
      f.write(data)
    os.replace(path + ".tmp", path)
    paths.append(path)
  return paths


@functools.lru_cache(maxsize=1)
def load_params() -> dict[str, Any]:
  """The shipped YamNet params (float32 numpy), as convert made them."""
  path = os.path.join(PRETRAINED_DIR, VARIABLES_FILE)
  if not os.path.exists(path):
    raise FileNotFoundError(f"{path} is missing: convert YAMNet with "
                            "`python -m babycry_jax.convert_yamnet`")
  with open(path, "rb") as f:
    return flax.serialization.msgpack_restore(f.read())["params"]


@functools.lru_cache(maxsize=1)
def class_names() -> tuple[str, ...]:
  """The 521 AudioSet display names, in output order."""
  text = storage.read_text(os.path.join(PRETRAINED_DIR, CLASS_MAP_FILE))
  rows = list(csv.DictReader(io.StringIO(text)))
  return tuple(r["display_name"] for r in sorted(rows, key=lambda r: int(r["index"])))
