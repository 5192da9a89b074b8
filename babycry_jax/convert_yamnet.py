r"""Converts YAMNet's int8 TFLite file into the Flax weights shipped in the package.

  python -m babycry_jax.convert_yamnet [--source_dir ../shared/models/yamnet] \
      [--output_dir babycry_jax/pretrained/yamnet]

Reads yamnet_spectra_in.tflite (Google's YAMNet from the google-coral/coralmicro
repository, Apache-2.0) with the `tflite` flatbuffer reader, no TensorFlow;
dequantizes every weight ((int8 - zero point) * scale, per output channel) and
bias; writes variables.msgpack, the class map, the licence and SOURCE.json (the
source files' sha256 and what was done to them). Run twice, it writes the same
bytes: the files in the package are exactly what it writes (tested).
"""
from __future__ import annotations

import os
import sys

import jax
from absl import app, flags

from babycry_jax import console, yamnet_weights

FLAGS = flags.FLAGS
flags.DEFINE_string("source_dir", os.path.join("..", "shared", "models", "yamnet"),
                    "Folder with yamnet_spectra_in.tflite, yamnet_class_map.csv and LICENSE.")
flags.DEFINE_string("output_dir", yamnet_weights.PRETRAINED_DIR, "Where the converted files go.")

TFLITE_FILE, CLASS_MAP_FILE, LICENSE_FILE = (
    "yamnet_spectra_in.tflite", "yamnet_class_map.csv", "LICENSE")
ORIGIN = {
    TFLITE_FILE: "google-coral/coralmicro @ c9f665b0a8b973d35cb9d383b3e92e9f14b4dd72, "
                 "models/yamnet_spectra_in.tflite",
    CLASS_MAP_FILE: "tensorflow/models @ dbeeb148f10adf723067040eedcccda00bdce1e8, "
                    "research/audioset/yamnet/yamnet_class_map.csv",
}


def main(argv):
  console.quiet_libraries()
  paths = {name: os.path.join(FLAGS.source_dir, name)
           for name in (TFLITE_FILE, CLASS_MAP_FILE, LICENSE_FILE)}
  missing = [p for p in paths.values() if not os.path.isfile(p)]
  if missing:
    print(f"error: missing {', '.join(missing)}", file=sys.stderr)
    return 1
  with open(paths[TFLITE_FILE], "rb") as f:
    tflite_bytes = f.read()
  with open(paths[CLASS_MAP_FILE], "rb") as f:
    class_map = f.read()
  with open(paths[LICENSE_FILE], encoding="utf-8") as f:
    license_text = f.read()
  try:
    params = yamnet_weights.convert(tflite_bytes)
  except ImportError:
    print("error: the converter needs the tflite package: pip install -e \".[dev]\"",
          file=sys.stderr)
    return 1
  except yamnet_weights.ConversionError as e:
    print(f"error: {paths[TFLITE_FILE]}: {e}", file=sys.stderr)
    return 1
  source = {
      "model": "YAMNet (Google), MobileNet v1 trained on AudioSet, 521 classes",
      "license": "Apache License 2.0 (LICENSE)",
      "converted": "dequantized by babycry_jax.convert_yamnet from the int8 TFLite file: "
                   "weights (int8 - zero point) * scale per output channel, int32 biases "
                   "* scale; stored as float32 Flax parameters of babycry_jax.models.yamnet",
      "files": {name: {"source": ORIGIN[name], "sha256": yamnet_weights.sha256(data)}
                for name, data in ((TFLITE_FILE, tflite_bytes), (CLASS_MAP_FILE, class_map))},
  }
  written = yamnet_weights.write(params, FLAGS.output_dir, class_map_csv=class_map.decode("utf-8"),
                                 license_text=license_text, source=source)
  count = sum(leaf.size for leaf in jax.tree.leaves(params))
  print(f"{FLAGS.output_dir}: {count:,} parameters from {paths[TFLITE_FILE]} "
        f"(sha256 {source['files'][TFLITE_FILE]['sha256'][:12]}...); wrote "
        + ", ".join(os.path.basename(p) for p in written))
  return 0


if __name__ == "__main__":
  app.run(main, flags_parser=console.parse_only_flags)
