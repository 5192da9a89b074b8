"""The peer detect is measured against: Google's YAMNet TFLite file as it comes, run by LiteRT.

  python -m benchmarks.yamnet_tflite_peer --tflite ../shared/models/yamnet/yamnet_spectra_in.tflite FILE...

What a hobbyist would write around the free model: each file decoded to 16 kHz
mono (PyAV, through this project's media code, band-limited to 4 kHz like
detection's input), YAMNet's front end in numpy (babycry_jax.data.yamnet_features),
every 0.96 s patch through the int8 graph on one thread, and each file's "Baby
cry, infant cry" score (class 20) averaged over its patches, one line per file.
No TensorFlow and no JAX: what it imports is what it needs.
"""
from __future__ import annotations

import sys

import numpy as np
from absl import app, flags

from babycry_jax.data import media_audio, media_probe, schema, yamnet_features

FLAGS = flags.FLAGS
flags.DEFINE_string("tflite", "../shared/models/yamnet/yamnet_spectra_in.tflite",
                    "YAMNet's int8 TFLite file.")

CLASS_BABY_CRY = 20


def main(argv):
  from ai_edge_litert.interpreter import Interpreter
  interpreter = Interpreter(FLAGS.tflite, num_threads=1)
  interpreter.allocate_tensors()
  source, = interpreter.get_input_details()
  target, = interpreter.get_output_details()
  spec = schema.preset("paper")
  for path in argv[1:]:
    duration_s = media_probe.probe(path).duration_s
    audio = next(media_audio.iter_audio_16k(path, spec, [(0.0, duration_s)]))
    patches = yamnet_features.patches(yamnet_features.log_mel(audio))
    scores = []
    for patch in patches:
      interpreter.set_tensor(source["index"], patch[None].astype(np.float32))
      interpreter.invoke()
      scores.append(float(interpreter.get_tensor(target["index"])[0, CLASS_BABY_CRY]))
    print(f"{path}: {len(patches)} patches, baby cry {np.mean(scores) if scores else 0.0:.3f}")
  return 0


if __name__ == "__main__":
  sys.exit(app.run(main))
