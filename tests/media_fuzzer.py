"""A seeded generator of broken media files, made from real clips and from the generated default.

Good clips are cut to a second and a half (real recordings of ../shared/data by
stream copy, so their codecs stay as recorded, a FLAC re-encoded; generated
default clips by encoding them short). Each broken file is one good clip damaged one way:

  byte_flips          random bytes anywhere flipped
  header_flips        bytes of the first 512 (the container's header) flipped
  truncation          cut at a random point, the header included
  swapped_header      the first bytes replaced by another container's first bytes
  zero_length_stream  a container whose streams hold no packet (or a 0-byte file)
  absurd_duration     the header's length fields set to 0, 1, 2^31-1 or 2^32-1
  absurd_frame_rate   the header's time scales, frame and sample rates set to 0, 1 or huge
  timestamp_jump      valid packets, but from the middle on stamped ~10^7 s later

`make_good` writes the good clips, `make_broken` the broken ones; both are
pure functions of their inputs and seed.
"""
from __future__ import annotations

import fractions
import pathlib
import struct

import av
import numpy as np

from preprocess import clip_encoding, synthetic_clips
from preprocess.clip_format import SAMPLE_RATE_HZ, RenderedClip

CLIP_S = 1.5
MUTATIONS = ("byte_flips", "header_flips", "truncation", "swapped_header", "zero_length_stream",
             "absurd_duration", "absurd_frame_rate", "timestamp_jump")
# Real recordings used as they were recorded: the study's AVIs and WAVs, an Ogg, a FLAC.
REAL_CLIPS = ("seed_samples/3DCNN/baby/1016.avi", "seed_samples/3DCNN/other/1654.avi",
              "seed_samples/SVM/babywav/1001.wav", "seed_samples/SVM/otherwav/1651.wav",
              "real_audio/librosa_misc/198-209-0000.ogg",
              "real_world/esc50_other/airplane/4-161099-A-47.flac")
_ABSURD = (0, 1, 0x7FFFFFFF, 0xFFFFFFFF)


def _cut(source: pathlib.Path, destination: pathlib.Path) -> None:
  """The first CLIP_S of a recording, its packets copied as they are (FLAC re-encoded: its
  header states the whole recording's length, which a copy would keep)."""
  if source.suffix == ".flac":
    _cut_flac(source, destination)
    return
  with av.open(str(source)) as src, av.open(str(destination), "w", format=src.format.name.split(",")[0]) as dst:
    streams = {s.index: dst.add_stream_from_template(s) for s in src.streams if s.type in ("audio", "video")}
    for packet in src.demux(*[s for s in src.streams if s.index in streams]):
      if packet.dts is None or packet.pts is None or packet.time_base is None:
        continue
      if float(packet.pts * packet.time_base) >= CLIP_S:
        continue
      packet.stream = streams[packet.stream.index]
      dst.mux(packet)


def _cut_flac(source: pathlib.Path, destination: pathlib.Path) -> None:
  with av.open(str(source)) as src, av.open(str(destination), "w", format="flac") as dst:
    audio = src.streams.audio[0]
    out = dst.add_stream("flac", rate=audio.rate, layout=audio.layout.name, format=audio.format.name)
    for frame in src.decode(audio):
      if frame.time is not None and frame.time >= CLIP_S:
        break
      for packet in out.encode(frame):
        dst.mux(packet)
    for packet in out.encode(None):
      dst.mux(packet)


def _generated(seed: int, index: int, kind: str, path: pathlib.Path) -> None:
  clip = synthetic_clips.render_clip(seed, index, kind)
  frames = int(round(CLIP_S * float(clip.frame_rate)))
  clip_encoding.encode_clip(str(path), RenderedClip(clip.frames[:frames], clip.frame_rate,
                                                    clip.audio[:int(CLIP_S * SAMPLE_RATE_HZ)]))


def make_good(folder: pathlib.Path, shared_data: pathlib.Path | None) -> list[pathlib.Path]:
  """The good clips: four of the generated default (MP4 and AVI) and, if given, the real ones."""
  folder.mkdir(parents=True, exist_ok=True)
  kinds = list(synthetic_clips.KINDS)
  good = []
  for index, ext in enumerate(("mp4", "avi", "mp4", "avi")):
    path = folder / f"generated{index}.{ext}"
    _generated(0, index, kinds[index % len(kinds)], path)
    good.append(path)
  for name in REAL_CLIPS if shared_data is not None else ():
    source = shared_data / name
    path = folder / f"real_{source.parent.name}_{source.name}"
    _cut(source, path)
    good.append(path)
  return good


def _flip(data: bytearray, rng: np.random.Generator, lo: int, hi: int) -> None:
  for offset in rng.integers(lo, max(hi, lo + 1), size=int(rng.integers(1, 65))):
    data[offset % len(data)] ^= int(rng.integers(1, 256))


def _patch_fields(data: bytearray, rng: np.random.Generator, fields) -> int:
  """Sets the 32-bit fields found (tag, byte offset after it, endianness) to absurd values."""
  patched = 0
  for tag, offset, order in fields:
    start = data.find(tag)
    while start >= 0 and start + len(tag) + offset + 4 <= len(data):
      at = start + len(tag) + offset
      data[at:at + 4] = struct.pack(order + "I", int(rng.choice(_ABSURD)))
      patched += 1
      start = data.find(tag, start + 1)
  return patched


# (tag, offset of the 32-bit field after the tag, byte order): MP4 boxes are big-endian
# (version+flags, then times, then the field), AVI/WAV chunks little-endian.
_DURATION_FIELDS = ((b"mvhd", 16, ">"), (b"mdhd", 16, ">"), (b"tkhd", 20, ">"),
                    (b"avih", 20, "<"), (b"strh", 36, "<"), (b"RIFF", 0, "<"), (b"data", 0, "<"))
_RATE_FIELDS = ((b"mvhd", 12, ">"), (b"mdhd", 12, ">"), (b"stts", 12, ">"),
                (b"avih", 4, "<"), (b"strh", 24, "<"), (b"strh", 28, "<"), (b"fmt ", 8, "<"),
                (b"fmt ", 12, "<"))


# Containers for empty streams: (extension, video codec or None, audio codec).
_EMPTY_CONTAINERS = ((".mp4", "mpeg4", "aac"), (".avi", "mpeg4", "mp3"), (".mkv", "mpeg4", "mp3"),
                     (".wav", None, "pcm_s16le"))


def _empty_streams(path: pathlib.Path, rng: np.random.Generator) -> pathlib.Path:
  """A container whose streams were declared but never given a packet, or a 0-byte file."""
  suffix, video_codec, audio_codec = _EMPTY_CONTAINERS[int(rng.integers(len(_EMPTY_CONTAINERS)))]
  path = path.with_suffix(suffix)
  choice = int(rng.integers(0, 4))
  if choice == 0:
    path.write_bytes(b"")
    return path
  with av.open(str(path), "w") as container:
    if video_codec and choice in (1, 3):
      video = container.add_stream(video_codec, rate=fractions.Fraction(25))
      video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
    if choice in (2, 3) or not video_codec:
      container.add_stream(audio_codec, rate=16000)
    container.start_encoding()   # the header, which PyAV otherwise writes with the first packet
  return path


def jump_timestamps(source: pathlib.Path, destination: pathlib.Path) -> pathlib.Path:
  """The clip remuxed into Matroska (AVI and WAV cannot hold such a jump) with every packet
  after the first half stamped 10^7 s later."""
  destination = destination.with_suffix(".mkv")
  with av.open(str(source)) as src, av.open(str(destination), "w", format="matroska") as dst:
    streams = {s.index: dst.add_stream_from_template(s) for s in src.streams if s.type in ("audio", "video")}
    packets = [p for p in src.demux(*[s for s in src.streams if s.index in streams]) if p.pts is not None]
    for n, packet in enumerate(packets):
      if n > len(packets) // 2:
        shift = int(1e7 / packet.time_base)
        packet.pts += shift
        packet.dts = None if packet.dts is None else packet.dts + shift
      packet.stream = streams[packet.stream.index]
      dst.mux(packet)
  return destination


def _mutate(mutation: str, source: pathlib.Path, other: pathlib.Path, path: pathlib.Path,
            rng: np.random.Generator) -> pathlib.Path:
  """Writes the broken file (its extension may change); returns its path."""
  if mutation == "zero_length_stream":
    return _empty_streams(path, rng)
  if mutation == "timestamp_jump":
    return jump_timestamps(source, path)
  data = bytearray(source.read_bytes())
  if mutation == "byte_flips":
    _flip(data, rng, 0, len(data))
  elif mutation == "header_flips":
    _flip(data, rng, 0, min(512, len(data)))
  elif mutation == "truncation":
    data = data[:int(rng.integers(1, len(data)))]
  elif mutation == "swapped_header":
    head = other.read_bytes()[:int(rng.integers(16, 4097))]
    data[:len(head)] = head
  elif mutation in ("absurd_duration", "absurd_frame_rate"):
    fields = _DURATION_FIELDS if mutation == "absurd_duration" else _RATE_FIELDS
    if not _patch_fields(data, rng, fields):
      _flip(data, rng, 0, min(64, len(data)))   # a header without those fields (Ogg, FLAC)
  path.write_bytes(bytes(data))
  return path


def make_broken(folder: pathlib.Path, good: list[pathlib.Path], count: int,
                seed: int) -> list[tuple[pathlib.Path, str, pathlib.Path]]:
  """count broken files, every mutation in turn; returns (path, mutation, good clip it came from)."""
  folder.mkdir(parents=True, exist_ok=True)
  rng = np.random.default_rng(seed)
  made = []
  for i in range(count):
    mutation = MUTATIONS[i % len(MUTATIONS)]
    source = good[int(rng.integers(len(good)))]
    other = next(g for g in rng.permutation(good) if g.suffix != source.suffix)
    path = folder / f"{i:04d}_{mutation}_{source.stem}{source.suffix}"
    made.append((_mutate(mutation, source, pathlib.Path(other), path, rng), mutation, source))
  return made
