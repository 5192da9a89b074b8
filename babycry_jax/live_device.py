"""A sound card's input (a USB microphone) as a live source, through PortAudio (`sounddevice`).

sounddevice is imported only when a device is used, and needs the PortAudio
library (Debian/Raspberry Pi OS: `apt install libportaudio2`); without it, or
without the device, the listener stops at start with one line saying so. The
device's callback copies each block into a queue; a device that stops
delivering for read_timeout_s (unplugged) counts as lost and is opened again.
"""
from __future__ import annotations

import queue
from typing import Any, Iterator, Optional

import numpy as np

from babycry_jax.data import media_audio
from babycry_jax.live_sources import AudioSource, Chunk, SourceError

# Blocks of this many seconds: short enough for a prompt alert, long enough to be cheap.
_BLOCK_S = 0.1


def load_backend() -> Any:
  """The sounddevice module, or SourceError saying what is missing."""
  try:
    import sounddevice
  except ImportError:
    raise SourceError("audio devices need the sounddevice package (pip install sounddevice)") from None
  except OSError as e:   # the package is there, the PortAudio library is not
    raise SourceError(f"audio devices need the PortAudio library (on Debian or Raspberry Pi OS: "
                      f"apt install libportaudio2): {e}") from None
  return sounddevice


def describe_devices(backend: Any = None) -> str:
  """The input devices PortAudio sees, one a line ("index: name (channels, default rate)")."""
  backend = backend or load_backend()
  lines = [f"{i}: {d['name']} ({d['max_input_channels']} input channel(s), "
           f"{d['default_samplerate']:g} Hz)"
           for i, d in enumerate(backend.query_devices()) if d["max_input_channels"] > 0]
  return "\n".join(lines) or "no input device"


class DeviceSource(AudioSource):
  """Blocks of a PortAudio input device, mixed to mono; `device` None is the default input."""

  reconnects = True

  def __init__(self, device: Optional[str] = None, rate: Optional[int] = None, channels: int = 1,
               read_timeout_s: float = 5.0, backend: Any = None):
    # A number names a device by its index, anything else by (part of) its name.
    self.device = int(device) if device is not None and device.isdigit() else device
    self.rate, self.channels, self.read_timeout_s = rate, channels, read_timeout_s
    self.description = f"audio device {device if device is not None else '(default input)'}"
    self._backend = backend

  def _settings(self, backend: Any) -> tuple[int, int]:
    """(rate, channels) to open the device with; SourceError when there is no such input."""
    try:
      info = backend.query_devices(self.device, "input")
    except (ValueError, backend.PortAudioError) as e:
      raise SourceError(f"{self.description}: {' '.join(str(e).split())} (inputs here:\n"
                        f"{describe_devices(backend)})") from None
    rate = self.rate or int(info["default_samplerate"])
    return rate, min(self.channels, max(1, int(info["max_input_channels"])))

  def open(self) -> Iterator[Chunk]:
    backend = self._backend or load_backend()
    rate, channels = self._settings(backend)
    blocks: queue.Queue = queue.Queue()

    def callback(indata, frames, time_info, status) -> None:
      blocks.put(np.array(indata, np.float32, copy=True))

    try:
      stream = backend.InputStream(device=self.device, samplerate=rate, channels=channels,
                                   dtype="float32", blocksize=int(rate * _BLOCK_S), callback=callback)
      stream.start()
    except backend.PortAudioError as e:
      raise SourceError(f"cannot open {self.description}: {' '.join(str(e).split())}") from None
    return self._chunks(stream, blocks, rate)

  def _chunks(self, stream: Any, blocks: queue.Queue, rate: int) -> Iterator[Chunk]:
    try:
      while True:
        try:
          block = blocks.get(timeout=self.read_timeout_s)
        except queue.Empty:
          raise SourceError(f"{self.description} delivered no audio for "
                            f"{self.read_timeout_s:g} s") from None
        yield media_audio.samples_to_mono(block.T), rate   # [frames, channels] -> planar
    finally:
      stream.stop()
      stream.close()
