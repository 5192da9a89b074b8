"""Writing small WAV files for tests: mono 16-bit PCM, any rate."""
import wave

import numpy as np


def write_wav(path, audio: np.ndarray, rate: int) -> str:
  """Writes float audio in [-1, 1] (clipped) as mono 16-bit PCM; returns the path as a string."""
  with wave.open(str(path), "wb") as f:
    f.setnchannels(1)
    f.setsampwidth(2)
    f.setframerate(rate)
    f.writeframes((np.clip(audio, -1.0, 1.0) * 32767).astype(np.int16).tobytes())
  return str(path)
