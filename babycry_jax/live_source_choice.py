"""SOURCE on the command line -> a live source: `-`, `device[:NAME]`, a URL or a file."""
from __future__ import annotations

import os
from typing import Optional

from babycry_jax import live_device, live_sources


def choose(source: str, *, pcm_rate: int = 16000, pcm_channels: int = 1, pcm_format: str = "s16le",
           device_rate: Optional[int] = None, open_timeout_s: float = 10.0,
           read_timeout_s: float = 10.0, rtsp_transport: str = "tcp") -> live_sources.AudioSource:
  """The source SOURCE names; ValueError (one line) for a bad one.

    -                       raw PCM on stdin (pcm_rate, pcm_channels, pcm_format)
    device, device:NAME     a PortAudio input device (its index or part of its name)
    rtsp://... http://...   a network stream (live_sources.STREAM_SCHEMES), reconnected
    a path                  a file, listened to once, at the speed it decodes
  """
  if source == "-":
    return live_sources.StdinPcm(pcm_rate, pcm_channels, pcm_format)
  if source == "device" or source.startswith("device:"):
    name = source.partition(":")[2] or None
    return live_device.DeviceSource(name, device_rate, read_timeout_s=read_timeout_s)
  if "://" in source:
    live_sources.check_url(source)
    return live_sources.PyavStream(source, open_timeout_s, read_timeout_s, rtsp_transport)
  if os.path.isfile(source):
    return live_sources.PyavStream(source, open_timeout_s, read_timeout_s)
  raise ValueError(f"source {source!r} is neither '-' (stdin), 'device[:NAME]', a URL "
                   "(rtsp://, http://, udp://, ...) nor an existing file")
