"""The ten kinds of embedded default clip, as one table, and `render_clip`.

Scene kinds and their share of the clips (crying 45%, not crying 55%):

| kind            | label      | share | video                              | audio                            |
| --------------- | ---------- | ----- | ---------------------------------- | -------------------------------- |
| cry_face        | crying     | 27%   | crying face, mouth opens with each | cry bursts (f0 350-550 Hz with   |
|                 |            |       | burst, eyes squeezed               | harmonics, vibrato, jitter),     |
|                 |            |       |                                    | inhales, background noise        |
| drowned_cry     | crying     |  9%   | crying face as above               | the cry 12-20 dB below loud      |
|                 |            |       |                                    | machine/room noise               |
| dark_cry        | crying     |  9%   | very dark, noisy, low-contrast     | clear cry                        |
|                 |            |       | room; the crying face barely shows |                                  |
| loudspeaker_cry | not_crying | 11%   | lit scene without a crying face: a | clear cry (same generator)       |
|                 |            |       | TV, a loudspeaker, a calm face or  |                                  |
|                 |            |       | objects                            |                                  |
| laughing_face   | not_crying | 11%   | face drawn exactly like a crying   | laughter: bursts of "ha" pulses  |
|                 |            |       | one (mouth opens in bursts, eyes   | at 4-6 Hz, f0 220-380 Hz, breathy|
|                 |            |       | squeezed)                          |                                  |
| dark_other      | not_crying |  9%   | dark room as in dark_cry: mostly a | laughter, speech, music or noise |
|                 |            |       | laughing face, else talking face   | matching the scene               |
|                 |            |       | or objects                         |                                  |
| noisy_room      | not_crying |  7%   | lit room with a calm face or       | loud machine/room noise, drawn   |
|                 |            |       | objects                            | like drowned_cry's noise         |
| talking_face    | not_crying |  8%   | face, eyes open and blinking,      | speech: voiced syllables at      |
|                 |            |       | mouth moves with each syllable     | 3-5 Hz, f0 100-250 Hz, formants  |
| music           | not_crying |  5%   | shapes moving and pulsing          | notes and chords on a beat, drums|
| quiet_room      | not_crying |  4%   | room with objects drifting slowly  | faint room noise, rare clicks    |

Why these kinds: each single modality is fooled by some kind (audio by
loudspeaker_cry and drowned_cry, video by laughing_face and the dark scenes),
while every pair of (audio evidence, video evidence) has one label, so a fusion
model can beat either modality alone. By the shares above, a perfect audio-only
or video-only classifier tops out near 0.8 F1; a fusion model can reach ~1.0.

Every clip also varies burst start phase, burst count and length, loudness,
noise level, frame rate, face size, position, skin tone, head motion and the
background. A clip depends only on (seed, clip index, kind).

In `KINDS`, each kind names a scene (how its sound and its picture are made)
and a background (the room noise the sound is mixed into). Every maker draws
from the clip's generator, in the order the clip is made: the kind's shared
draws (frame rate, quiet room), the sound, the picture, then the background.
That order is part of the output: reordering draws changes every clip.
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Optional

import numpy as np

from preprocess import synthetic_audio, synthetic_video
from preprocess.clip_format import CLIP_S, FRAME_RATE_PROBS, FRAME_RATES, RenderedClip

GENERATOR_VERSION = 1  # part of every seed: bump it when a clip's draws change


@dataclasses.dataclass(frozen=True)
class Sound:
  """A clip's foreground sound and what its picture follows."""
  audio: Optional[np.ndarray]  # float64 [num_samples], unit RMS; None: room noise only
  track: np.ndarray            # [num_frames]: loudness (mouth, loudspeaker) or beat pulse, 0..1


@dataclasses.dataclass(frozen=True)
class QuietRoom:
  """The room noise and levels every clip draws first, whatever its kind."""
  noise: np.ndarray       # float64 [num_samples], unit RMS
  foreground_db: float
  noise_db: float


# (generator, frame times [num_frames] in s) -> ...; each draws in a fixed order.
MakeSound = Callable[[np.random.Generator, np.ndarray], Sound]
MakePicture = Callable[[np.random.Generator, np.ndarray, np.ndarray], np.ndarray]
MakeScene = Callable[[np.random.Generator, np.ndarray], tuple[Optional[np.ndarray], np.ndarray]]
# (generator, foreground audio or None, the quiet room) -> the clip's float32 audio.
MakeBackground = Callable[[np.random.Generator, Optional[np.ndarray], QuietRoom], np.ndarray]


@dataclasses.dataclass(frozen=True)
class ClipKind:
  """One row of the table: a kind's label, its share of the clips and how it is made."""
  label: str        # crying | not_crying
  share: float      # of all clips
  scene: MakeScene
  background: MakeBackground


# ---------------------------------------------------------------- sounds

def _cry(rng: np.random.Generator, frame_t: np.ndarray) -> Sound:
  bursts = synthetic_audio.burst_schedule(rng)
  return Sound(synthetic_audio.cry_audio(rng, bursts),
               synthetic_audio.burst_envelope(frame_t, bursts))


def _laugh(rng: np.random.Generator, frame_t: np.ndarray) -> Sound:
  bursts = synthetic_audio.burst_schedule(rng, gap_s=(0.25, 0.6))
  return Sound(synthetic_audio.laugh_audio(rng, bursts),
               synthetic_audio.burst_envelope(frame_t, bursts))


def _speech(rng: np.random.Generator, frame_t: np.ndarray) -> Sound:
  audio, syllables = synthetic_audio.speech_audio(rng)
  return Sound(audio, synthetic_audio.burst_envelope(frame_t, syllables, 0.025, 0.04))


def _music(rng: np.random.Generator, frame_t: np.ndarray) -> Sound:
  audio, beat_s = synthetic_audio.music_audio(rng)
  return Sound(audio, np.exp(-np.mod(frame_t, beat_s) / 0.15))


def _silence(rng: np.random.Generator, frame_t: np.ndarray) -> Sound:
  return Sound(None, np.zeros(frame_t.size))


# ---------------------------------------------------------------- pictures

def _face(mode: str, dark: bool = False) -> MakePicture:
  """A face (cry_like, talk or calm) whose mouth follows the sound's track."""
  return lambda rng, frame_t, track: synthetic_video.face_scene(rng, frame_t, track, mode, dark)


def _objects(speed: tuple[float, float], dark: bool = False, pulse: bool = False) -> MakePicture:
  """Shapes drifting at a speed drawn from `speed` (px/s); with pulse, swelling on the beat."""
  return lambda rng, frame_t, track: synthetic_video.objects_scene(
      rng, frame_t, rng.uniform(*speed), track if pulse else None, dark)


def _device(rng: np.random.Generator, frame_t: np.ndarray, track: np.ndarray) -> np.ndarray:
  return synthetic_video.device_scene(rng, frame_t, track)


# ---------------------------------------------------------------- scenes and choices

def _scene(sound: MakeSound, picture: MakePicture) -> MakeScene:
  """The sound first, then a picture that follows it: (audio, frames)."""
  def make(rng: np.random.Generator, frame_t: np.ndarray):
    made = sound(rng, frame_t)
    return made.audio, picture(rng, frame_t, made.track)
  return make


def _one_of(*options: tuple[float, Callable]) -> Callable:
  """One of several makers (scenes or pictures), drawn with its probability for each clip."""
  probs = [p for p, _ in options]

  def pick(rng: np.random.Generator, *args):
    _, chosen = options[rng.choice(len(options), p=probs)]
    return chosen(rng, *args)
  return pick


# ---------------------------------------------------------------- backgrounds

def _quiet_room(rng: np.random.Generator, audio: Optional[np.ndarray],
                room: QuietRoom) -> np.ndarray:
  return synthetic_audio.mix(audio, room.noise, room.foreground_db, room.noise_db)


def _faint_room(rng: np.random.Generator, audio: Optional[np.ndarray],
                room: QuietRoom) -> np.ndarray:
  return synthetic_audio.mix(audio, room.noise, 0.0, rng.uniform(-55.0, -40.0))


def _loud_noise(rng: np.random.Generator, audio: Optional[np.ndarray],
                room: QuietRoom) -> np.ndarray:
  return synthetic_audio.mix(audio, synthetic_audio.room_noise(rng, loud=True), 0.0,
                             rng.uniform(-18.0, -10.0))


def _drowned_in_loud_noise(rng: np.random.Generator, audio: Optional[np.ndarray],
                           room: QuietRoom) -> np.ndarray:
  noise_db = rng.uniform(-18.0, -10.0)
  return synthetic_audio.mix(audio, synthetic_audio.room_noise(rng, loud=True),
                             noise_db - rng.uniform(12.0, 20.0), noise_db)


# The module docstring's table, row for row.
KINDS: dict[str, ClipKind] = {
    "cry_face": ClipKind("crying", 0.27, _scene(_cry, _face("cry_like")), _quiet_room),
    "drowned_cry": ClipKind("crying", 0.09, _scene(_cry, _face("cry_like")),
                            _drowned_in_loud_noise),
    "dark_cry": ClipKind("crying", 0.09, _scene(_cry, _face("cry_like", dark=True)), _quiet_room),
    "loudspeaker_cry": ClipKind("not_crying", 0.11, _scene(_cry, _one_of(
        (0.5, _device), (0.3, _face("calm")), (0.2, _objects((0, 6))))), _quiet_room),
    "laughing_face": ClipKind("not_crying", 0.11, _scene(_laugh, _face("cry_like")), _quiet_room),
    "dark_other": ClipKind("not_crying", 0.09, _one_of(
        (0.6, _scene(_laugh, _face("cry_like", dark=True))),
        (0.2, _scene(_speech, _face("talk", dark=True))),
        (0.1, _scene(_music, _objects((10, 40), dark=True, pulse=True))),
        (0.1, _scene(_silence, _objects((0, 4), dark=True)))), _quiet_room),
    "noisy_room": ClipKind("not_crying", 0.07, _scene(_silence, _one_of(
        (0.5, _face("calm")), (0.5, _objects((0, 6))))), _loud_noise),
    "talking_face": ClipKind("not_crying", 0.08, _scene(_speech, _face("talk")), _quiet_room),
    "music": ClipKind("not_crying", 0.05, _scene(_music, _objects((15, 60), pulse=True)),
                      _quiet_room),
    "quiet_room": ClipKind("not_crying", 0.04, _scene(_silence, _objects((0, 4))), _faint_room),
}


def render_clip(seed: int, index: int, kind: str) -> RenderedClip:
  """Renders clip `index` of the dataset made from `seed`; pure function of its inputs."""
  if kind not in KINDS:
    raise ValueError(f"unknown scene kind {kind!r}; choose one of {sorted(KINDS)}")
  rng = np.random.default_rng([seed, index, GENERATOR_VERSION])
  frame_rate = FRAME_RATES[rng.choice(len(FRAME_RATES), p=FRAME_RATE_PROBS)]
  frame_t = np.arange(int(round(CLIP_S * frame_rate))) / float(frame_rate)
  foreground_db = rng.uniform(-30.0, -14.0)
  quiet_noise = synthetic_audio.room_noise(rng, loud=False)
  noise_db = foreground_db - rng.uniform(8.0, 30.0)  # ordinary scenes: SNR 8-30 dB
  room = QuietRoom(quiet_noise, foreground_db, noise_db)
  audio, frames = KINDS[kind].scene(rng, frame_t)
  return RenderedClip(frames, frame_rate, KINDS[kind].background(rng, audio, room))
