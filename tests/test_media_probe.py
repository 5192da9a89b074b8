"""Probing: bad files named by their reason; what each kind of file holds and what a missing track gives."""
import pickle

import av
import numpy as np
import pytest

import media_clips
import media_fuzzer
from babycry_jax.data import features, media_audio, media_probe, media_video, media_windows, schema

PAPER = schema.preset("paper")


# ----------------------------------------------------------------------------- bad inputs


def test_missing_path_and_folder_are_unreadable(tmp_path):
  media_clips.assert_media_error(tmp_path / "nope.mp4", "unreadable_path")
  media_clips.assert_media_error(tmp_path, "unreadable_path")


def test_empty_file(tmp_path):
  path = tmp_path / "empty.mp4"
  path.write_bytes(b"")
  media_clips.assert_media_error(path, "empty_file")


def test_text_renamed_mp4_is_not_media(tmp_path):
  path = tmp_path / "notes.mp4"
  path.write_text("these are meeting notes, not a video\n" * 40)
  media_clips.assert_media_error(path, "not_media")


def test_truncated_mp4_and_avi(tmp_path, shared_data):
  whole = media_clips.write_clip(tmp_path / "whole.mp4", audio_start_s=0.0)
  cut = tmp_path / "cut.mp4"
  cut.write_bytes(whole.read_bytes()[:whole.stat().st_size // 2])
  media_clips.assert_media_error(cut, "truncated")
  study = (shared_data / "seed_samples/3DCNN/baby/1022.avi").read_bytes()
  cut_avi = tmp_path / "cut.avi"
  cut_avi.write_bytes(study[:len(study) // 2])
  media_clips.assert_media_error(cut_avi, "truncated")


def test_timestamps_that_jump_further_than_the_bytes_could_hold(tmp_path):
  whole = media_clips.write_clip(tmp_path / "whole.mp4", audio_start_s=0.0)
  jumped = media_fuzzer.jump_timestamps(whole, tmp_path / "jumped")   # 10^7 s on, half way
  media_clips.assert_media_error(jumped, "implausible_duration")


def test_a_tag_that_is_not_utf8_is_read_with_replacement_characters(tmp_path):
  whole = media_clips.write_clip(tmp_path / "whole.mp4", audio_start_s=0.0)
  tagged = tmp_path / "tagged.mkv"
  with av.open(str(whole)) as src, av.open(str(tagged), "w", format="matroska") as dst:
    dst.metadata["title"] = "TITLETAG"
    streams = {s.index: dst.add_stream_from_template(s) for s in src.streams}
    for packet in src.demux():
      if packet.dts is not None:
        packet.stream = streams[packet.stream.index]
        dst.mux(packet)
  tagged.write_bytes(tagged.read_bytes().replace(b"TITLETAG", b"\x9d\xff\x9dTAG\x9d\xff"))
  assert media_probe.probe(str(tagged)).has_audio
  assert len(list(media_windows.iter_windows(str(tagged), PAPER, hop_s=PAPER.hop_s))) == 1


def test_subtitles_only_file_has_no_usable_track(tmp_path):
  path = tmp_path / "subs.srt"
  path.write_text("1\n00:00:00,000 --> 00:00:01,000\nhello\n\n2\n00:00:02,000 --> 00:00:03,000\nbye\n")
  media_clips.assert_media_error(path, "no_usable_track")


def test_unknown_audio_codec_is_unsupported(tmp_path):
  # A WAV whose format tag names no codec FFmpeg knows.
  import struct
  data = np.zeros(8000, "<i2").tobytes()
  fmt = struct.pack("<HHIIHH", 0x1234, 1, 8000, 16000, 2, 16)
  body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
  path = tmp_path / "odd.wav"
  path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
  media_clips.assert_media_error(path, "unsupported_codec")


def test_media_error_survives_pickling():
  error = media_probe.MediaError("/a/b.mp4", "truncated", "cut\nshort")
  again = pickle.loads(pickle.dumps(error))
  assert (again.path, again.reason, str(again)) == ("/a/b.mp4", "truncated", "/a/b.mp4: truncated: cut short")
  with pytest.raises(ValueError):
    media_probe.MediaError("/a", "bad_reason", "x")


# ----------------------------------------------------------------------------- track kinds


@pytest.mark.parametrize("suffix,codec,rate", [
    ("wav", "pcm_s16le", 16000), ("ogg", "libopus", 48000), ("flac", "flac", 22050),
    ("mp3", "libmp3lame", 44100)])
def test_audio_only_files_have_no_frames(tmp_path, suffix, codec, rate):
  path = media_clips.write_clip(tmp_path / f"tone.{suffix}", 5.0, video=False, audio_codec=codec,
                                audio_rate=rate, bursts=((1.0, 1.2),))
  info = media_probe.probe(path)
  assert info.has_audio and not info.has_video and info.fps is None
  assert info.duration_s == pytest.approx(5.0, abs=0.1)
  windows = list(media_windows.iter_windows(path, PAPER))
  assert len(windows) == 2 and windows[1].padded   # 4 s + a padded 1 s tail
  assert all(w.frames is None for w in windows)
  feats = features.window_features(windows[0], PAPER)
  assert feats["has_audio"] and not feats["has_video"] and not feats["video/frames"].any()
  # MP3 carries an encoder delay of about 25 ms that its container cannot state.
  onsets = media_clips.onsets_s(windows[0].audio, 8000)
  assert len(onsets) == 1 and onsets[0] == pytest.approx(1.0, abs=0.03 if suffix == "mp3" else 0.003)
  with pytest.raises(media_probe.MediaError, match="no_usable_track"):
    media_video.read_frames(path, [1.0], 16, 1)


def test_silent_video_has_no_audio(tmp_path):
  path = media_clips.write_clip(tmp_path / "silent.mp4", audio=False, flashes=((1.0, 2.0),))
  info = media_probe.probe(path)
  assert info.has_video and not info.has_audio and info.sample_rate is None
  window = media_windows.window_at(path, PAPER, 0.0)
  assert window.audio is None and window.frames.shape == (18, 64, 64, 1)
  feats = features.window_features(window, PAPER)
  assert not feats["has_audio"] and feats["has_video"] and not feats["audio/log_mel"].any()
  with pytest.raises(media_probe.MediaError, match="no_usable_track"):
    media_audio.read_audio(path, 8000)
