"""Live sources without the model: PCM from a real pipe, SOURCE parsing, passwords kept out of
logs, and a sound card as far as it goes without one (a stand-in PortAudio module)."""
import os
import threading
import time

import numpy as np
import pytest

from babycry_jax import live_device, live_source_choice, live_sources
from babycry_jax.data import media_audio

pytestmark = pytest.mark.timeout(60)


def test_pcm_from_a_pipe_in_odd_pieces_is_the_files_samples():
  """Stereo s16le written in pieces that split frames: the mono samples a decoder gives."""
  rng = np.random.default_rng(0)
  stereo = rng.integers(-32768, 32767, size=(8000, 2)).astype("<i2")
  read_fd, write_fd = os.pipe()

  def write():
    data = stereo.tobytes()
    for first in range(0, len(data), 999):   # 999 bytes: frames cut in the middle
      os.write(write_fd, data[first:first + 999])
      time.sleep(0.001)
    os.close(write_fd)

  threading.Thread(target=write, daemon=True).start()
  with os.fdopen(read_fd, "rb") as pipe:
    chunks = list(live_sources.StdinPcm(8000, 2, "s16le", stream=pipe).open())
  assert {rate for _, rate in chunks} == {8000}
  samples = np.concatenate([c for c, _ in chunks])
  np.testing.assert_array_equal(samples, media_audio.samples_to_mono(stereo.T))
  assert samples[0] == np.float32((int(stereo[0, 0]) + int(stereo[0, 1])) / 32768 / 2)


def test_source_choice_and_redaction(tmp_path):
  assert isinstance(live_source_choice.choose("-"), live_sources.StdinPcm)
  camera = live_source_choice.choose("rtsp://admin:hunter2@10.0.0.5:554/stream1")
  assert camera.reconnects and camera.description == "rtsp://admin:***@10.0.0.5:554/stream1"
  wav = tmp_path / "a.wav"
  wav.write_bytes(b"")
  assert not live_source_choice.choose(str(wav)).reconnects   # a file is heard once
  device = live_source_choice.choose("device:2")
  assert isinstance(device, live_device.DeviceSource) and device.device == 2
  assert live_source_choice.choose("device:USB Audio").device == "USB Audio"
  for bad, message in [("gopher://x/y", "unsupported URL scheme"), ("http:///path", "no host"),
                       ("missing.wav", "neither")]:
    with pytest.raises(ValueError, match=message):
      live_source_choice.choose(bad)
  with pytest.raises(ValueError, match="PCM format"):
    live_sources.StdinPcm(16000, 1, "u8")


class FakePortAudio:
  """The part of the sounddevice module DeviceSource uses; blocks come from a thread."""

  class PortAudioError(Exception):
    pass

  def __init__(self, blocks: int):
    self.blocks = blocks
    self.devices = [{"name": "HDA Intel (output)", "max_input_channels": 0, "default_samplerate": 48000.0},
                    {"name": "USB Audio Device", "max_input_channels": 2, "default_samplerate": 44100.0}]
    self.opened = []

  def query_devices(self, device=None, kind=None):
    if device is None and kind is None:
      return self.devices
    matches = [i for i, d in enumerate(self.devices) if d["max_input_channels"] > 0 and (
        device is None or device == i or (isinstance(device, str) and device in d["name"]))]
    if not matches:
      raise ValueError(f"No input device matching {device!r}")
    return self.devices[matches[0]]

  def InputStream(self, device, samplerate, channels, dtype, blocksize, callback):
    fake = self

    class Stream:
      def start(self):
        fake.opened.append((device, samplerate, channels, blocksize))

        def run():
          for k in range(fake.blocks):
            block = np.full((blocksize, channels), 0.1 * (k + 1), np.float32)
            block[:, -1] *= 3   # two channels that differ: mono is their mean
            callback(block, blocksize, None, None)
            time.sleep(0.01)
        threading.Thread(target=run, daemon=True).start()

      def stop(self):
        pass

      def close(self):
        pass
    return Stream()


def test_a_device_delivers_mono_blocks_and_a_silent_one_counts_as_lost():
  backend = FakePortAudio(blocks=3)
  source = live_device.DeviceSource("USB", read_timeout_s=0.5, backend=backend)
  chunks = source.open()
  got = [next(chunks) for _ in range(3)]
  assert backend.opened == [("USB", 44100, 1, 4410)]   # asked for mono: one channel opened
  assert [rate for _, rate in got] == [44100] * 3
  np.testing.assert_allclose([c.mean() for c, _ in got], [0.3, 0.6, 0.9], rtol=1e-6)
  with pytest.raises(live_sources.SourceError, match="no audio for 0.5 s"):
    next(chunks)
  stereo = live_device.DeviceSource("1", channels=2, read_timeout_s=0.5, backend=FakePortAudio(1))
  block, _ = next(stereo.open())
  np.testing.assert_allclose(block, 0.2, rtol=1e-6)   # the mean of 0.1 and 0.3
  with pytest.raises(live_sources.SourceError, match="USB Audio Device"):
    live_device.DeviceSource("Bluetooth", backend=FakePortAudio(1)).open()
  assert "1: USB Audio Device (2 input channel(s), 44100 Hz)" == live_device.describe_devices(
      FakePortAudio(0))


def test_without_portaudio_a_device_is_a_clear_error():
  try:
    import sounddevice  # noqa: F401
    pytest.skip("this machine has PortAudio")
  except OSError:
    pass
  with pytest.raises(live_sources.SourceError, match="apt install libportaudio2"):
    live_device.DeviceSource().open()
