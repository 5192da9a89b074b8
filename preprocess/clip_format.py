"""What every clip of the embedded default is: its length, its audio and its video format.

Audio is mono 16 kHz; video is 160x120 at 15, 12.5 or 25 fps, chosen per clip
so that the pipeline must align the two by timestamps.
"""
from __future__ import annotations

import dataclasses
import fractions

import numpy as np

CLIP_S = 4.0
SAMPLE_RATE_HZ = 16000
FRAME_WIDTH = 160
FRAME_HEIGHT = 120
FRAME_RATES = (fractions.Fraction(15), fractions.Fraction(25, 2), fractions.Fraction(25))
FRAME_RATE_PROBS = (0.5, 0.25, 0.25)


@dataclasses.dataclass
class RenderedClip:
  frames: np.ndarray          # uint8 [num_frames, FRAME_HEIGHT, FRAME_WIDTH, 3], BGR
  frame_rate: fractions.Fraction
  audio: np.ndarray           # float32 [CLIP_S * SAMPLE_RATE_HZ], mono, in -1..1
