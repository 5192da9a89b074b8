"""The Apache Beam job: source items -> windows -> features -> records.

`build_dataset` is the one entry point (the CLI and the trainer call it):

1. find the inputs (sources.py) and assign each group a split (splits.py);
2. run a Beam pipeline whose workers decode each input, cut it into windows,
   compute the features and encode each window as a tf.train.Example; an input
   that fails is caught and sent, with its reason, to a tagged "errors" output,
   never stopping the job; Beam counters count inputs, records and failures;
3. in the launching process, order, shard and index the records and write the
   dataset dir (dataset_writer.py) into a temporary sibling directory, which is
   renamed to the output only once complete.

An input is all-or-nothing: if decoding fails part way, none of its windows
are kept (its earlier windows would be a biased sample of a broken file).
Inputs shorter than a window follow `spec.short_policy`: "pad" keeps one
padded window, "skip" drops the input and lists it in errors.jsonl (reason
too_short), counted under short_inputs.skipped but not as a failure.

If more than `max_failure_fraction` of the inputs found fail to decode, the
job raises `PreprocessError` and writes no dataset (a dataset missing half its
inputs is more likely a wrong flag than data worth training on). Segments of
an AudioSet list without downloaded media are reported but do not count
towards that fraction: partial downloads are normal there.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import tempfile
import time
import uuid
from typing import Any, Callable, Iterator, Mapping, Optional, Sequence

import apache_beam as beam
from apache_beam.metrics.metric import Metrics, MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions

from babycry_jax.data import schema, storage
from preprocess import dataset_writer
from preprocess import sources
from preprocess import splits as splits_lib

METRICS_NAMESPACE = "babycry_preprocess"
ERRORS_TAG = "errors"
SKIPPED_SHORT = "skipped_short"   # marks a policy skip in the errors output
UNEXPECTED_ERROR = "unexpected_error"
_LOG = logging.getLogger(__name__)


class PreprocessError(RuntimeError):
  """The job ran but its result is not usable (too many failures, no records)."""


def interval_shift_s(item: sources.SourceItem, media_duration_s: float) -> float:
  """Seconds to subtract from an item's interval times to get media times.

  AudioSet downloads are often only the segment itself: media that ends
  before its first interval does is taken to start at that interval's start.
  """
  if item.trimmed_ok and item.intervals and media_duration_s + 0.5 < item.intervals[0].end_s:
    return item.intervals[0].start_s
  return 0.0


class ProcessSource(beam.DoFn):
  """Decodes one source item into encoded records, or reports why it cannot.

  Main output: work records (bytes, see dataset_writer.pack_work_record).
  Tagged output "errors": {"path", "reason", "detail", "source_id"}.
  """

  def __init__(self, spec: schema.FeatureSpec, split_of_group: Mapping[str, str], num_items: int):
    self._spec = spec
    self._split_of_group = dict(split_of_group)
    self._num_items = num_items
    self._read = Metrics.counter(METRICS_NAMESPACE, "inputs_read")
    self._used = Metrics.counter(METRICS_NAMESPACE, "inputs_used")
    self._written = Metrics.counter(METRICS_NAMESPACE, "records_written")
    self._padded = Metrics.counter(METRICS_NAMESPACE, "records_padded")
    self._seconds = Metrics.distribution(METRICS_NAMESPACE, "ms_per_input")

  def setup(self):
    # Heavy imports happen once per worker, not at pipeline construction.
    from tensorflow_datasets.core import example_serializer

    from babycry_jax.data import features, media
    self._media = media
    self._features = features
    self._feature_dict = schema.features_dict(self._spec)
    self._serializer = example_serializer.ExampleSerializer(self._feature_dict.get_serialized_info())

  def _windows(self, item: sources.SourceItem) -> list[tuple[Any, str]]:
    """(window, label) pairs of the item, in start order."""
    media = self._media
    if not item.intervals:
      return [(w, item.label) for w in media.iter_windows(item.path, self._spec, hop_s=self._spec.hop_s)]
    shift_s = interval_shift_s(item, media.probe(item.path).duration_s)
    windows: dict[int, tuple[Any, str]] = {}
    too_short = []
    for interval in item.intervals:
      start_s, end_s = interval.start_s - shift_s, interval.end_s - shift_s
      try:
        for window in media.iter_windows(item.path, self._spec, hop_s=self._spec.hop_s,
                                         start_s=start_s, end_s=end_s):
          # Overlapping intervals can cut the same window: the first one wins.
          windows.setdefault(int(round(window.start_s * 1000)), (window, interval.label))
      except media.MediaError as e:
        if e.reason != "too_short":
          raise
        too_short.append(e)
    if not windows and too_short:
      raise too_short[0]
    return [windows[k] for k in sorted(windows)]

  def _error(self, item: sources.SourceItem, reason: str, detail: str):
    key = "inputs_skipped_short" if reason == SKIPPED_SHORT else f"failed_{reason}"
    Metrics.counter(METRICS_NAMESPACE, key).inc()
    return beam.pvalue.TaggedOutput(ERRORS_TAG, {
        "path": item.path, "source_id": item.source_id, "reason": reason, "detail": detail})

  def process(self, indexed_item: tuple[int, sources.SourceItem]) -> Iterator[Any]:
    index, item = indexed_item
    started = time.perf_counter()
    self._read.inc()
    split = self._split_of_group[item.group]
    try:
      windows = self._windows(item)
      records = [self._encode(item, split, window, label) for window, label in windows]
    except self._media.MediaError as e:
      yield self._error(item, e.reason, str(e))
      return
    except Exception as e:  # a bug or a decoder surprise must not stop the other inputs
      _LOG.exception("unexpected error on %s", item.path)
      yield self._error(item, UNEXPECTED_ERROR, f"{type(e).__name__}: {e}")
      return
    finally:
      self._seconds.update(int((time.perf_counter() - started) * 1000))
    if not records:
      # media cuts no window only for an input shorter than one under "skip".
      detail = f"shorter than one {self._spec.window_s:g} s window and short_policy is 'skip'"
      yield self._error(item, SKIPPED_SHORT if self._spec.short_policy == "skip" else "too_short", detail)
      return
    self._used.inc()
    self._written.inc(len(records))
    _LOG.info("[%d/%d] %s: %d windows", index + 1, self._num_items, item.source_id, len(records))
    yield from records

  def _encode(self, item: sources.SourceItem, split: str, window: Any, label: str) -> bytes:
    feats = self._features.window_features(window, self._spec)
    start_ms = int(round(float(window.start_s) * 1000))
    example = {
        "clip_id": f"{item.source_id}@{start_ms}",
        "source_id": item.source_id,
        "label": label,
        "start_s": float(window.start_s),
        "duration_s": float(window.duration_s),
        "padded": bool(window.padded),
        **{k: feats[k] for k in schema.WINDOW_FEATURES},
    }
    if example["padded"]:
      self._padded.inc()
    example_bytes = dataset_writer.serialize_example(self._serializer, self._feature_dict.encode_example(example))
    header = {"clip_id": example["clip_id"], "source_id": item.source_id, "split": split,
              "label": label, "padded": example["padded"],
              "stats": dataset_writer.record_stats(example) if split == "train" else {}}
    return dataset_writer.pack_work_record(header, example_bytes)


def pipeline_options(direct_num_workers: int, pipeline_args: Sequence[str] = ()) -> PipelineOptions:
  """Beam options: DirectRunner with worker processes unless a runner is given."""
  args = list(pipeline_args)
  if not any(a.startswith("--runner") for a in args):
    args += ["--runner=DirectRunner", f"--direct_num_workers={direct_num_workers}",
             "--direct_running_mode=" + ("multi_processing" if direct_num_workers > 1 else "in_memory")]
  if not any(a.startswith("--default_sdk_harness_log_level") for a in args):
    # Workers log their own start-up at INFO; keep only our progress lines.
    args += ["--default_sdk_harness_log_level=WARNING",
             '--sdk_harness_log_level_overrides={"%s": "INFO"}' % __name__]
  return PipelineOptions(args)


def _run_beam(items: Sequence[sources.SourceItem], assignment: Mapping[str, str],
              spec: schema.FeatureSpec, work_dir: str, options: PipelineOptions) -> tuple[dict[str, int], list[dict]]:
  records_prefix = os.path.join(work_dir, "records", "part")
  errors_prefix = os.path.join(work_dir, "errors", "part")
  with beam.Pipeline(options=options) as p:
    results = (
        p
        | "ListInputs" >> beam.Create(list(enumerate(items)))
        | "SpreadOverWorkers" >> beam.Reshuffle()
        | "DecodeAndFeaturize" >> beam.ParDo(ProcessSource(spec, assignment, len(items))).with_outputs(
            ERRORS_TAG, main="records"))
    _ = results.records | "WriteWorkRecords" >> beam.io.WriteToTFRecord(
        records_prefix, file_name_suffix=".tfrecord")
    _ = (results[ERRORS_TAG]
         | "ErrorsToJson" >> beam.Map(lambda e: json.dumps(e, sort_keys=True))
         | "WriteErrors" >> beam.io.WriteToText(errors_prefix, file_name_suffix=".jsonl"))
  result = p.result
  counters = {}
  for counter in result.metrics().query(MetricsFilter().with_namespace(METRICS_NAMESPACE))["counters"]:
    counters[counter.key.metric.name] = counters.get(counter.key.metric.name, 0) + counter.committed
  errors = []
  errors_dir = os.path.dirname(errors_prefix)
  for name in sorted(os.listdir(errors_dir) if os.path.isdir(errors_dir) else []):
    if name.startswith("part") and name.endswith(".jsonl"):
      with open(os.path.join(os.path.dirname(errors_prefix), name)) as f:
        errors.extend(json.loads(line) for line in f if line.strip())
  return counters, errors


def _temp_sibling(output_dir: str) -> str:
  parent, name = os.path.split(os.path.abspath(output_dir))
  return os.path.join(parent, f".{name}.incomplete-{uuid.uuid4().hex[:8]}")


def _temp_dir_for(output_dir: str) -> str:
  """Where the dataset is assembled: beside a local output, in /tmp for a bucket."""
  if storage.is_url(output_dir):
    return tempfile.mkdtemp(prefix=f".{storage.basename(output_dir)}.incomplete-")
  temp_dir = _temp_sibling(output_dir)
  os.makedirs(temp_dir)
  return temp_dir


def _output_exists(output_dir: str) -> bool:
  # In a bucket a dataset exists once its metadata.json does: that object is uploaded last.
  if storage.is_url(output_dir):
    return storage.exists(storage.join(output_dir, schema.METADATA_FILE))
  return os.path.exists(output_dir)


def build_dataset(input_path: str, output_dir: str, spec: Optional[schema.FeatureSpec] = None, *,
                  media_dir: Optional[str] = None,
                  split_fractions: Sequence[float] | str = splits_lib.DEFAULT_FRACTIONS,
                  seed: int = 0, num_shards: Optional[int] = None, direct_num_workers: int = 2,
                  max_failure_fraction: float = 0.5, overwrite: bool = False,
                  pipeline_args: Sequence[str] = (),
                  log: Callable[[str], None] = print) -> dict[str, Any]:
  """Builds a dataset dir from a folder, a CSV manifest or an AudioSet list.

  Args:
    input_path: label folders, the study's layout, a manifest or a segment list.
    output_dir: the dataset dir to create; it appears only when complete.
    spec: feature spec (default: the paper preset).
    media_dir: downloaded media for an AudioSet segment list.
    split_fractions: (train, validation, test) or "0.7,0.15,0.15".
    seed: split seed.
    num_shards: shards per split; None: by size (256 MiB each).
    direct_num_workers: DirectRunner worker processes (ignored by other runners).
    max_failure_fraction: fail, writing nothing, when more inputs fail.
    overwrite: replace an existing output_dir.
    pipeline_args: further Beam flags (--runner=..., --project=..., ...).
    log: where progress and the summary go.

  Returns:
    metadata.json's content plus "elapsed_s" and "clips_per_s".
  Raises:
    FileExistsError: output_dir exists and overwrite is False.
    sources.InputError: the input cannot be read.
    PreprocessError: too many failures, or no record at all.
  """
  started = time.perf_counter()
  spec = spec or schema.preset("paper")
  fractions = splits_lib.parse_fractions(split_fractions)
  if not 0.0 <= max_failure_fraction <= 1.0:
    raise ValueError(f"max_failure_fraction must be within [0, 1], got {max_failure_fraction}")
  if spec.short_policy not in ("pad", "skip"):
    raise ValueError(f"short_policy must be 'pad' or 'skip', got {spec.short_policy!r}")
  output_dir = storage.absolute(output_dir)
  if _output_exists(output_dir) and not overwrite:
    raise FileExistsError(f"{output_dir} exists; pass --overwrite to replace it")

  found = sources.discover(input_path, media_dir)
  if not found.items:
    raise PreprocessError(f"{input_path}: none of the {len(found.missing)} listed inputs has media "
                          f"in {media_dir}")
  group_labels: dict[str, list[str]] = {}
  for item in found.items:
    group_labels.setdefault(item.group, []).extend(item.labels)
  assignment = splits_lib.assign_splits(group_labels, fractions, seed)
  log(f"{len(found.items)} inputs ({found.kind}) in {len(group_labels)} groups"
      + (f"; {len(found.missing)} listed inputs have no media" if found.missing else ""))

  temp_dir = _temp_dir_for(output_dir)
  try:
    work_dir = os.path.join(temp_dir, "_work")
    counters, beam_errors = _run_beam(found.items, assignment, spec, work_dir,
                                      pipeline_options(direct_num_workers, pipeline_args))
    failures = [e for e in beam_errors if e["reason"] != SKIPPED_SHORT]
    policy_skips = [e for e in beam_errors if e["reason"] == SKIPPED_SHORT]
    failed_fraction = len(failures) / len(found.items)
    failures_by_reason: dict[str, int] = {}
    for error in failures + [dataclasses.asdict(m) for m in found.missing]:
      failures_by_reason[error["reason"]] = failures_by_reason.get(error["reason"], 0) + 1
    if failed_fraction > max_failure_fraction:
      examples = "; ".join(f"{e['path']}: {e['reason']}" for e in sorted(failures, key=lambda e: e["path"])[:5])
      raise PreprocessError(
          f"{len(failures)} of {len(found.items)} inputs failed ({failed_fraction:.0%} > "
          f"max_failure_fraction {max_failure_fraction:.0%}); no dataset written. "
          f"By reason: {dict(sorted(failures_by_reason.items()))}. First: {examples}")

    report = [{"path": e["path"], "reason": e["reason"], "detail": e["detail"]} for e in failures]
    report += [{"path": e["path"], "reason": "too_short", "detail": e["detail"]} for e in policy_skips]
    report += [dataclasses.asdict(m) for m in found.missing]
    inputs = [os.path.abspath(input_path)] + ([os.path.abspath(media_dir)] if media_dir else [])
    metadata = dataset_writer.write_dataset(
        temp_dir, os.path.join(work_dir, "records", "part*.tfrecord"), spec, report, num_shards,
        extra_metadata={
            "split_fractions": dict(zip(splits_lib.SPLITS, fractions)),
            "seed": seed,
            "inputs": inputs,
            "num_inputs": len(found.items) + len(found.missing),
            "num_failed": len(failures) + len(found.missing),
            "failures_by_reason": dict(sorted(failures_by_reason.items())),
            "short_inputs": {"skipped": len(policy_skips)},
        })
    if metadata["num_records"] == 0:
      raise PreprocessError(f"{input_path}: no records were produced "
                            f"(failures by reason: {failures_by_reason or 'none'})")
    shutil.rmtree(work_dir)
    _publish(temp_dir, output_dir, overwrite)
  except BaseException:
    shutil.rmtree(temp_dir, ignore_errors=True)
    raise

  elapsed_s = time.perf_counter() - started
  summary = dict(metadata, elapsed_s=elapsed_s, clips_per_s=metadata["num_records"] / elapsed_s,
                 counters=counters)
  log(format_summary(summary, output_dir))
  return summary


def _publish(temp_dir: str, output_dir: str, overwrite: bool) -> None:
  """Renames the finished temp dir to output_dir (replacing it if allowed).

  A bucket has no rename: the files are uploaded with metadata.json last, so
  readers see the dataset only once every shard is there.
  """
  if storage.is_url(output_dir):
    _upload(temp_dir, output_dir, overwrite)
    return
  if os.path.exists(output_dir):
    if not overwrite:
      raise FileExistsError(f"{output_dir} appeared while the job ran; not replacing it")
    trash = _temp_sibling(output_dir) + "-old"
    os.rename(output_dir, trash)
    os.rename(temp_dir, output_dir)
    shutil.rmtree(trash, ignore_errors=True)
  else:
    os.rename(temp_dir, output_dir)


def _upload(temp_dir: str, output_dir: str, overwrite: bool) -> None:
  if _output_exists(output_dir) and not overwrite:
    raise FileExistsError(f"{output_dir} appeared while the job ran; not replacing it")
  # Replacing: the old metadata.json goes first, so no reader pairs it with new shards.
  storage.remove(storage.join(output_dir, schema.METADATA_FILE))
  storage.remove(output_dir)  # no stale shard of an old or half-uploaded dataset survives
  names = sorted(os.listdir(temp_dir), key=lambda n: n == schema.METADATA_FILE)
  for name in names:
    storage.upload(os.path.join(temp_dir, name), storage.join(output_dir, name))
  shutil.rmtree(temp_dir, ignore_errors=True)


def format_summary(summary: Mapping[str, Any], output_dir: str) -> str:
  lines = [f"dataset written to {output_dir}",
           f"{'split':<11} {'records':>8} {'crying':>8} {'not_crying':>11} {'shards':>7}"]
  for split in splits_lib.SPLITS:
    info = summary["splits"][split]
    lines.append(f"{split:<11} {info['num_examples']:>8} {info['labels']['crying']:>8} "
                 f"{info['labels']['not_crying']:>11} {len(info['shards']):>7}")
  lines.append(f"inputs: {summary['num_inputs']}, failed: {summary['num_failed']} "
               f"{summary['failures_by_reason'] or ''}; short inputs: {summary['short_inputs']}")
  counters = summary.get("counters", {})
  if counters:
    lines.append("beam counters: " + ", ".join(f"{k}={v}" for k, v in sorted(counters.items())))
  lines.append(f"{summary['num_records']} records in {summary['elapsed_s']:.1f} s "
               f"({summary['clips_per_s']:.2f} clips/s)")
  return "\n".join(lines)
