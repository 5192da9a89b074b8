"""Synthetic pictures of the embedded default: rooms, shapes, faces, a TV or a loudspeaker.

Frames are uint8 [num_frames, FRAME_HEIGHT, FRAME_WIDTH, 3], BGR. A scene is
drawn frame by frame at the times frame_t (seconds), then lit (a lit room or a
dark one) and given sensor noise; every draw comes from the generator given,
in a fixed order.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Callable

import cv2
import numpy as np

from preprocess.clip_format import CLIP_S, FRAME_HEIGHT, FRAME_WIDTH


def _background(rng: np.random.Generator) -> np.ndarray:
  """A coloured, softly textured wall: float32 [H, W, 3]."""
  base = rng.uniform(40, 220, size=3)
  coarse = rng.standard_normal((rng.integers(3, 9), rng.integers(3, 9), 3)).astype(np.float32)
  texture = cv2.resize(coarse, (FRAME_WIDTH, FRAME_HEIGHT), interpolation=cv2.INTER_CUBIC)
  img = base[None, None, :] + rng.uniform(8, 35) * texture
  if rng.random() < 0.5:  # stripes (wallpaper, cot bars)
    period = rng.uniform(8, 30)
    x = np.arange(FRAME_WIDTH)[None, :, None]
    img = img + rng.uniform(5, 25) * np.sign(np.sin(2 * np.pi * x / period))
  if rng.random() < 0.5:  # floor or table edge
    y0 = int(rng.uniform(0.65, 0.9) * FRAME_HEIGHT)
    img[y0:] = img[y0:] * rng.uniform(0.5, 0.9) + rng.uniform(0, 40)
  return np.clip(img, 0, 255).astype(np.float32)


@dataclasses.dataclass
class _Shape:
  kind: str  # circle | rect
  color: tuple[float, float, float]
  x: float
  y: float
  size: float
  vx: float
  vy: float


def _random_shapes(rng: np.random.Generator, count: int, speed: float) -> list[_Shape]:
  shapes = []
  for _ in range(count):
    angle = rng.uniform(0, 2 * np.pi)
    v = speed * rng.uniform(0.5, 1.0)
    shapes.append(_Shape("circle" if rng.random() < 0.5 else "rect",
                         tuple(float(c) for c in rng.uniform(20, 235, size=3)),
                         rng.uniform(15, FRAME_WIDTH - 15), rng.uniform(15, FRAME_HEIGHT - 15),
                         rng.uniform(8, 28), v * math.cos(angle), v * math.sin(angle)))
  return shapes


def _draw_shapes(img: np.ndarray, shapes: list[_Shape], t_s: float, scale: float = 1.0) -> None:
  for s in shapes:
    # Bounce inside the frame: fold the straight path back at the edges.
    x = _fold(s.x + s.vx * t_s, FRAME_WIDTH)
    y = _fold(s.y + s.vy * t_s, FRAME_HEIGHT)
    r = max(int(s.size * scale), 2)
    if s.kind == "circle":
      cv2.circle(img, (int(x), int(y)), r, s.color, -1, cv2.LINE_AA)
    else:
      cv2.rectangle(img, (int(x - r), int(y - 0.7 * r)), (int(x + r), int(y + 0.7 * r)),
                    s.color, -1, cv2.LINE_AA)


def _fold(v: float, size: float) -> float:
  period = 2.0 * size
  v = math.fmod(v, period)
  v = v + period if v < 0 else v
  return v if v <= size else period - v


@dataclasses.dataclass
class _Face:
  cx: float
  cy: float
  height: float
  width: float
  skin: tuple[float, float, float]
  hair: tuple[float, float, float] | None
  sway_px: float
  sway_hz: float
  sway_phase: float


def _random_face(rng: np.random.Generator) -> _Face:
  height = rng.uniform(0.58, 0.85) * FRAME_HEIGHT
  width = height * rng.uniform(0.72, 0.9)
  light = rng.uniform(0, 1)
  # Skin tones from dark brown to pale, in BGR.
  rgb = np.array([110, 72, 52]) + light * np.array([140, 135, 125])
  skin = tuple(float(c) for c in np.clip(rgb[::-1] + rng.uniform(-10, 10, 3), 0, 255))
  hair = tuple(float(c) for c in rng.uniform(10, 90, 3)) if rng.random() < 0.6 else None
  margin_x = FRAME_WIDTH / 2 - width / 2
  margin_y = max(FRAME_HEIGHT / 2 - height / 2, 0)
  return _Face(
      cx=FRAME_WIDTH / 2 + rng.uniform(-0.9, 0.9) * margin_x,
      cy=FRAME_HEIGHT / 2 + rng.uniform(-0.8, 0.8) * margin_y,
      height=height, width=width, skin=skin, hair=hair,
      sway_px=rng.uniform(0.5, 2.5), sway_hz=rng.uniform(0.2, 0.8),
      sway_phase=rng.uniform(0, 2 * np.pi))


def _draw_face(img: np.ndarray, face: _Face, t_s: float, mouth_open: float, squeeze: float,
               blink: bool, smile: float = 0.0) -> None:
  """Draws a face; mouth_open and squeeze in 0..1 (1 = wide open / eyes shut tight)."""
  cx = face.cx + face.sway_px * math.sin(2 * np.pi * face.sway_hz * t_s + face.sway_phase)
  cy = face.cy + 0.5 * face.sway_px * math.cos(2 * np.pi * face.sway_hz * 0.7 * t_s)
  h, w = face.height, face.width
  if face.hair is not None:
    cv2.ellipse(img, (int(cx), int(cy - 0.12 * h)), (int(0.54 * w), int(0.45 * h)), 0, 180, 360,
                face.hair, -1, cv2.LINE_AA)
  cv2.ellipse(img, (int(cx), int(cy)), (int(w / 2), int(h / 2)), 0, 0, 360, face.skin, -1,
              cv2.LINE_AA)
  dark = tuple(0.35 * c for c in face.skin)
  eye_y = cy - 0.1 * h
  eye_w, eye_h = 0.1 * w, 0.055 * h
  thick = max(int(round(0.025 * h)), 1)
  for side in (-1, 1):
    ex = cx + side * 0.22 * w
    if squeeze > 0.3 or blink:
      # Shut eyes: a crease, curved down; tighter squeeze gives a deeper crease.
      cv2.ellipse(img, (int(ex), int(eye_y)), (int(eye_w), int(eye_h * (0.4 + squeeze))),
                  0, 200, 340, dark, thick + int(squeeze > 0.6), cv2.LINE_AA)
    else:
      cv2.ellipse(img, (int(ex), int(eye_y)), (int(eye_w), int(eye_h)), 0, 0, 360,
                  (235, 235, 235), -1, cv2.LINE_AA)
      cv2.circle(img, (int(ex), int(eye_y)), max(int(eye_h * 0.9), 1), (40, 30, 20), -1,
                 cv2.LINE_AA)
    # Brows: inner ends rise when the face is squeezed (crying or laughing hard).
    inner_dy = -0.05 * h * squeeze
    cv2.line(img, (int(ex - side * 0.12 * w), int(eye_y - 0.11 * h + inner_dy)),
             (int(ex + side * 0.1 * w), int(eye_y - 0.12 * h)), dark, thick, cv2.LINE_AA)
  cv2.ellipse(img, (int(cx), int(cy + 0.05 * h)), (max(int(0.05 * w), 1), max(int(0.04 * h), 1)),
              0, 0, 360, tuple(0.8 * c for c in face.skin), -1, cv2.LINE_AA)
  mouth_y = cy + 0.27 * h
  mouth_w = (0.16 + 0.1 * mouth_open) * w
  mouth_h = 0.2 * h * mouth_open
  if mouth_h >= 1.5:
    cv2.ellipse(img, (int(cx), int(mouth_y)), (int(mouth_w), int(mouth_h)), 0, 0, 360,
                (25, 20, 60), -1, cv2.LINE_AA)
    cv2.ellipse(img, (int(cx), int(mouth_y)), (int(mouth_w), int(mouth_h)), 0, 0, 360,
                (70, 70, 160), max(thick // 2, 1), cv2.LINE_AA)
  else:
    cv2.ellipse(img, (int(cx), int(mouth_y - 0.04 * h * smile)),
                (int(mouth_w), max(int(0.06 * h * smile), 1)), 0, 10, 170, (60, 60, 140),
                thick, cv2.LINE_AA)


def _blink_track(rng: np.random.Generator, frame_t: np.ndarray) -> np.ndarray:
  """True on frames where the eyes are closed in a blink (every 2-5 s, 0.15 s)."""
  blinks = np.zeros(frame_t.size, bool)
  t = rng.uniform(0, 3)
  while t < CLIP_S:
    blinks |= (frame_t >= t) & (frame_t < t + 0.15)
    t += rng.uniform(2.0, 5.0)
  return blinks


def _render(frame_t: np.ndarray, bg: np.ndarray, draw: Callable[[np.ndarray, int, float], None],
            rng: np.random.Generator, dark: bool) -> np.ndarray:
  """Draws every frame over the background, then lighting and sensor noise."""
  if dark:
    # Night room: little light, flat contrast, strong sensor noise.
    gain = rng.uniform(0.05, 0.12) * (
        1.0 + 0.05 * np.sin(2 * np.pi * rng.uniform(0.2, 1.0) * frame_t))
    offset = rng.uniform(3, 10)
    noise_sigma = rng.uniform(3.0, 6.0)
  else:
    gain = rng.uniform(0.85, 1.1) * (
        1.0 + 0.03 * np.sin(2 * np.pi * rng.uniform(0.05, 0.3) * frame_t))
    offset = 0.0
    noise_sigma = rng.uniform(0.5, 2.5)
  # A small bank of gray noise frames, picked at random per frame, is far
  # cheaper than fresh noise and looks the same after encoding.
  bank = np.repeat(np.round(noise_sigma * rng.standard_normal(
      (8, FRAME_HEIGHT, FRAME_WIDTH, 1))).astype(np.int16), 3, axis=3)
  picks = rng.integers(0, len(bank), size=frame_t.size)
  background = bg.astype(np.uint8)
  frames = np.empty((frame_t.size, FRAME_HEIGHT, FRAME_WIDTH, 3), np.uint8)
  for i, t_s in enumerate(frame_t):
    img = background.copy()
    draw(img, i, float(t_s))
    lit = cv2.convertScaleAbs(img, alpha=float(gain[i]), beta=offset)
    frames[i] = np.clip(lit.astype(np.int16) + bank[picks[i]], 0, 255)
  return frames


def face_scene(rng: np.random.Generator, frame_t: np.ndarray, mouth_env: np.ndarray, mode: str,
               dark: bool) -> np.ndarray:
  """A face in a room: frames [num_frames, H, W, 3] at the times frame_t [num_frames] (s).

  mode: cry_like (crying or laughing look), talk, or calm; mouth_env
  [num_frames], 0..1, opens the mouth of cry_like and talk.
  """
  bg = _background(rng)
  face = _random_face(rng)
  blinks = _blink_track(rng, frame_t)
  smile = rng.uniform(0, 1)
  extras = _random_shapes(rng, int(rng.integers(0, 3)), 0.0)
  # Objects in the scene stay clear of the face (drawn first, face on top).

  def draw(img, i, t_s):
    _draw_shapes(img, extras, t_s)
    m = float(mouth_env[i])
    if mode == "cry_like":
      _draw_face(img, face, t_s, mouth_open=0.15 + 0.85 * m, squeeze=0.45 + 0.55 * m,
                 blink=False)
    elif mode == "talk":
      _draw_face(img, face, t_s, mouth_open=0.35 * m, squeeze=0.0, blink=bool(blinks[i]))
    else:
      _draw_face(img, face, t_s, mouth_open=0.0, squeeze=0.0, blink=bool(blinks[i]),
                 smile=smile)
  return _render(frame_t, bg, draw, rng, dark)


def objects_scene(rng: np.random.Generator, frame_t: np.ndarray, speed: float,
                  pulse: np.ndarray | None, dark: bool) -> np.ndarray:
  """Shapes drifting at about `speed` px/s: frames [num_frames, H, W, 3].

  pulse [num_frames], 0..1, swells the shapes (music's beat); None keeps their size.
  """
  bg = _background(rng)
  shapes = _random_shapes(rng, int(rng.integers(2, 6)), speed)

  def draw(img, i, t_s):
    _draw_shapes(img, shapes, t_s, 1.0 if pulse is None else 1.0 + 0.3 * float(pulse[i]))
  return _render(frame_t, bg, draw, rng, dark)


def device_scene(rng: np.random.Generator, frame_t: np.ndarray,
                 audio_env: np.ndarray) -> np.ndarray:
  """A TV or a loudspeaker on a shelf, the sound's source: frames [num_frames, H, W, 3].

  audio_env [num_frames], 0..1, moves the loudspeaker's cone.
  """
  bg = _background(rng)
  is_tv = rng.random() < 0.5
  w = rng.uniform(0.35, 0.6) * FRAME_WIDTH
  h = w * (0.7 if is_tv else rng.uniform(1.1, 1.5))
  h = min(h, 0.9 * FRAME_HEIGHT)
  x0 = rng.uniform(2, FRAME_WIDTH - w - 2)
  y0 = rng.uniform(2, FRAME_HEIGHT - h - 2)
  case = tuple(float(c) for c in rng.uniform(10, 80, 3))
  screen = rng.uniform(60, 220, 3)
  extras = _random_shapes(rng, int(rng.integers(0, 3)), 0.0)

  def draw(img, i, t_s):
    _draw_shapes(img, extras, t_s)
    cv2.rectangle(img, (int(x0), int(y0)), (int(x0 + w), int(y0 + h)), case, -1)
    if is_tv:
      # The picture changes in cuts every ~second, like a programme.
      shade = screen * (0.6 + 0.4 * math.sin(1.3 * math.floor(t_s * 1.1) + 0.7))
      cv2.rectangle(img, (int(x0 + 0.08 * w), int(y0 + 0.1 * h)),
                    (int(x0 + 0.92 * w), int(y0 + 0.85 * h)), tuple(float(c) for c in shade), -1)
    else:
      r = 0.3 * w * (1.0 + 0.06 * float(audio_env[i]))  # the cone moves with the sound
      for cy, rr in ((y0 + 0.33 * h, r), (y0 + 0.75 * h, 0.6 * r)):
        cv2.circle(img, (int(x0 + w / 2), int(cy)), int(rr), (20, 20, 20), -1, cv2.LINE_AA)
        cv2.circle(img, (int(x0 + w / 2), int(cy)), max(int(0.3 * rr), 1), (90, 90, 90), -1,
                   cv2.LINE_AA)
  return _render(frame_t, bg, draw, rng, False)

