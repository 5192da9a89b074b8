"""The worker's first step: one source item -> its encoded records, or why it has none.

An input is all-or-nothing: if decoding fails part way, none of its windows
are kept (its earlier windows would be a biased sample of a broken file).
Inputs shorter than a window follow `spec.short_policy`: "pad" keeps one
padded window, "skip" drops the input and reports it (reason too_short),
counted under short_inputs.skipped but not as a failure.
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import shutil
import tempfile
import time
from typing import Any, Iterator, Mapping

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics.metric import Metrics

from babycry_jax.data import schema, storage
from preprocess import feature_stats
from preprocess import sharding
from preprocess import sources
from preprocess import worker_console

METRICS_NAMESPACE = "babycry_preprocess"
ERRORS = "errors"        # tagged output: {"path", "source_id", "reason", "detail"}
TRAIN_STATS = "stats"    # tagged output: feature_stats.record_stats of each train record
TALLY = "tally"          # tagged output: per used input {"inputs_used", "records", "padded_inputs"}
SKIPPED_SHORT = "skipped_short"   # marks a policy skip among the errors
UNEXPECTED_ERROR = "unexpected_error"
_LOG = logging.getLogger(__name__)


def _progress_logger() -> logging.Logger:
  """A logger that prints to the worker's own stderr.

  Worker harnesses differ in whether they forward log records, and a job
  service keeps what they forward; a line on the worker's console is seen on
  every runner (Dataflow puts it in Cloud Logging).
  """
  logger = logging.getLogger(__name__ + ".progress")
  if not logger.handlers:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
  return logger


def interval_shift_s(item: sources.SourceItem, media_duration_s: float) -> float:
  """Seconds to subtract from an item's interval times to get media times.

  AudioSet downloads are often only the segment itself: media that ends
  before its first interval does is taken to start at that interval's start.
  """
  if item.trimmed_ok and item.intervals and media_duration_s + 0.5 < item.intervals[0].end_s:
    return item.intervals[0].start_s
  return 0.0


@contextlib.contextmanager
def local_media(item: sources.SourceItem) -> Iterator[sources.SourceItem]:
  """The item with a local path: media in a bucket is copied to a temporary file first.

  The decoders need a file; a worker on Dataflow reads a gs:// input this way.
  Raises media_probe.MediaError (unreadable_path) when the copy fails.
  """
  if not storage.is_url(item.path):
    yield item
    return
  from babycry_jax.data import media_probe
  with tempfile.TemporaryDirectory(prefix="babycry_media_") as folder:
    local_path = os.path.join(folder, storage.basename(item.path))
    try:
      with FileSystems.open(item.path, compression_type="uncompressed") as src, open(local_path, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    except Exception as e:  # every filesystem raises its own kind
      raise media_probe.MediaError(item.path, "unreadable_path",
                                   f"cannot copy it: {type(e).__name__}: {e}") from e
    try:
      yield dataclasses.replace(item, path=local_path)
    except media_probe.MediaError as e:  # name the input, not the temporary copy
      raise media_probe.MediaError(item.path, e.reason, e.detail.replace(local_path, item.path)) from e


class RecordEncoder:
  """Windows of a source item -> tf.train.Example bytes (the one encoding of a record)."""

  def __init__(self, spec: schema.FeatureSpec):
    # Heavy imports happen where records are made (a worker), not where the graph is built.
    from tensorflow_datasets.core import example_serializer

    from babycry_jax.data import features, media_probe, media_windows
    self.spec = spec
    self.media_probe = media_probe
    self._media_windows = media_windows
    self._features = features
    self._feature_dict = schema.features_dict(spec)
    self._serializer = example_serializer.ExampleSerializer(self._feature_dict.get_serialized_info())

  def windows(self, item: sources.SourceItem) -> list[tuple[Any, str]]:
    """(window, label) pairs of the item, in start order."""
    media_probe, media_windows, spec = self.media_probe, self._media_windows, self.spec
    if not item.intervals:
      return [(w, item.label) for w in media_windows.iter_windows(item.path, spec, hop_s=spec.hop_s)]
    shift_s = interval_shift_s(item, media_probe.probe(item.path).duration_s)
    windows: dict[int, tuple[Any, str]] = {}
    too_short = []
    for interval in item.intervals:
      start_s, end_s = interval.start_s - shift_s, interval.end_s - shift_s
      try:
        for window in media_windows.iter_windows(item.path, spec, hop_s=spec.hop_s, start_s=start_s,
                                                 end_s=end_s):
          # Overlapping intervals can cut the same window: the first one wins.
          windows.setdefault(int(round(window.start_s * 1000)), (window, interval.label))
      except media_probe.MediaError as e:
        if e.reason != "too_short":
          raise
        too_short.append(e)
    if not windows and too_short:
      raise too_short[0]
    return [windows[k] for k in sorted(windows)]

  def encode(self, item: sources.SourceItem, window: Any, label: str) -> tuple[dict[str, Any], bytes]:
    """(the example's values, its serialized bytes) for one window."""
    feats = self._features.window_features(window, self.spec)
    example = {
        "clip_id": f"{item.source_id}@{int(round(float(window.start_s) * 1000))}",
        "source_id": item.source_id,
        "label": label,
        "start_s": float(window.start_s),
        "duration_s": float(window.duration_s),
        "padded": bool(window.padded),
        **{k: feats[k] for k in schema.WINDOW_FEATURES},
    }
    encoded = self._feature_dict.encode_example(example)
    # Protobuf map order is otherwise arbitrary and differs between processes.
    return example, self._serializer.get_tf_example(encoded).SerializeToString(deterministic=True)


class ProcessSource(beam.DoFn):
  """Decodes one source item into records keyed by their shard, or reports why it cannot.

  Input: (input number, SourceItem). Main output: ((split, shard index),
  (clip_id, label, example bytes)); tagged outputs ERRORS, TRAIN_STATS and TALLY.
  """

  def __init__(self, spec: schema.FeatureSpec, split_of_group: Mapping[str, str],
               shards_per_split: Mapping[str, int], num_items: int):
    self._spec = spec
    self._split_of_group = dict(split_of_group)
    self._shards_per_split = dict(shards_per_split)
    self._num_items = num_items
    self._read = Metrics.counter(METRICS_NAMESPACE, "inputs_read")
    self._used = Metrics.counter(METRICS_NAMESPACE, "inputs_used")
    self._written = Metrics.counter(METRICS_NAMESPACE, "records_written")
    self._padded = Metrics.counter(METRICS_NAMESPACE, "records_padded")
    self._ms = Metrics.distribution(METRICS_NAMESPACE, "ms_per_input")

  def setup(self):
    worker_console.install()
    self._encoder = RecordEncoder(self._spec)
    self._progress_log = _progress_logger()
    self._done = self._records = self._failed = 0   # this worker's, for its progress lines

  def _error(self, item: sources.SourceItem, reason: str, detail: str):
    Metrics.counter(METRICS_NAMESPACE, "inputs_skipped_short" if reason == SKIPPED_SHORT
                    else f"failed_{reason}").inc()
    if reason != SKIPPED_SHORT:
      self._failed += 1
    return beam.pvalue.TaggedOutput(ERRORS, {
        "path": item.path, "source_id": item.source_id, "reason": reason, "detail": detail})

  def _progress(self, index: int, item: sources.SourceItem, outcome: str) -> None:
    self._done += 1
    self._progress_log.info("input %d of %d, %s: %s (this worker: %d inputs, %d records, %d failed)",
                            index + 1, self._num_items, item.source_id, outcome, self._done,
                            self._records, self._failed)

  def process(self, indexed_item: tuple[int, sources.SourceItem]) -> Iterator[Any]:
    index, item = indexed_item
    started = time.perf_counter()
    self._read.inc()
    split = self._split_of_group[item.group]
    try:
      with local_media(item) as local_item:
        encoded = [self._encoder.encode(item, window, label) for window, label in self._encoder.windows(local_item)]
      stats = [feature_stats.record_stats(example) for example, _ in encoded] if split == "train" else []
    except self._encoder.media_probe.MediaError as e:
      yield self._error(item, e.reason, str(e))
      self._progress(index, item, e.reason)
      return
    except Exception as e:  # a bug or a decoder surprise must not stop the other inputs
      _LOG.exception("unexpected error on %s", item.path)
      yield self._error(item, UNEXPECTED_ERROR, f"{type(e).__name__}: {e}")
      self._progress(index, item, UNEXPECTED_ERROR)
      return
    finally:
      self._ms.update(int((time.perf_counter() - started) * 1000))
    if not encoded:
      # media cuts no window only for an input shorter than one under "skip".
      detail = f"shorter than one {self._spec.window_s:g} s window and short_policy is 'skip'"
      yield self._error(item, SKIPPED_SHORT if self._spec.short_policy == "skip" else "too_short", detail)
      self._progress(index, item, "too short, skipped")
      return
    padded = sum(example["padded"] for example, _ in encoded)
    self._used.inc()
    self._written.inc(len(encoded))
    self._padded.inc(padded)
    self._records += len(encoded)
    for example, data in encoded:
      shard = sharding.shard_of(example["clip_id"], self._shards_per_split[split])
      yield (split, shard), (example["clip_id"], example["label"], data)
    for sums in stats:
      yield beam.pvalue.TaggedOutput(TRAIN_STATS, sums)
    yield beam.pvalue.TaggedOutput(TALLY, {"inputs_used": 1, "records": len(encoded),
                                           "padded_inputs": int(padded > 0)})
    self._progress(index, item, f"{len(encoded)} windows")
