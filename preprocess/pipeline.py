"""The Apache Beam job: source items -> windows -> features -> a sharded dataset, in one graph.

`build_dataset` is the one entry point (the CLI and the trainer call it):

1. in the launcher, find the inputs (sources.py), give each group a split
   (splits.py) and fix every split's shard count (sharding.py);
2. run one Beam graph in which workers decode each input, cut it into
   windows, compute the features and encode each window (decode_source.py);
   key every record to (split, shard) by a stable hash of its clip id and
   write it into a fragment file, in that shard's section
   (record_fragments.py); group the sections' references by shard, then sort
   the shard's records by clip id and write the shard and its index
   (shard_writer.py); combine the train split's statistics exactly
   (feature_stats.py); write errors.jsonl (error_report.py); and write one
   small job summary (shard names and lengths, statistics, counts);
3. in the launcher, read that summary, remove the fragments and write
   features.json, dataset_info.json and metadata.json, last
   (dataset_metadata.py).

No record passes through the launcher, so the job runs unchanged on the
DirectRunner, on a portable runner (Flink, Spark, a local job service) and on
Dataflow. A local dataset is written into a hidden sibling directory and
renamed when complete; in a bucket, a prefix is a dataset once metadata.json
exists (destination.py). A job that fails (a worker that died, a full disk)
raises PreprocessError with one line and leaves no dataset. If more than `max_failure_fraction` of the inputs found fail to
decode, the job raises `PreprocessError` and leaves no dataset (a dataset
missing half its inputs is more likely a wrong flag than data worth training
on). Segments of an AudioSet list without downloaded media are reported but
do not count towards that fraction: partial downloads are normal there.
"""
from __future__ import annotations

import collections
import json
import os
import time
from typing import Any, Callable, Mapping, NamedTuple, Optional, Sequence

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions

from babycry_jax.data import schema, storage, storage_faults
from preprocess import dataset_metadata
from preprocess import decode_source
from preprocess import destination
from preprocess import error_report
from preprocess import feature_stats
from preprocess import output_files
from preprocess import progress
from preprocess import record_fragments
from preprocess import runner_options
from preprocess import sharding
from preprocess import sources
from preprocess import splits as splits_lib

JOB_SUMMARY_FILE = "_job_summary.json"   # the job's small outputs, read and removed by the launcher


class PreprocessError(RuntimeError):
  """The job ran but its result is not usable (too many failures, no records)."""


class _SumCounts(beam.CombineFn):
  """Adds dicts of integer counts key by key."""

  def create_accumulator(self) -> dict[str, int]:
    return {}

  def add_input(self, total: dict[str, int], counts: Mapping[str, int]) -> dict[str, int]:
    for key, value in counts.items():
      total[key] = total.get(key, 0) + value
    return total

  def merge_accumulators(self, totals) -> dict[str, int]:
    merged: dict[str, int] = {}
    for total in totals:
      self.add_input(merged, total)
    return merged

  def extract_output(self, total: dict[str, int]) -> dict[str, int]:
    return dict(sorted(total.items()))


def _report_entry(error: Mapping[str, str]) -> dict[str, str]:
  kind = error_report.SKIPPED if error["reason"] == decode_source.SKIPPED_SHORT else error_report.FAILED
  return error_report.entry(kind, error["path"], error["reason"], error["detail"])


def _write_job_summary(_, path: str, shards, stats, tally, errors) -> None:
  summary = {"shards": sorted(shards, key=lambda s: (s["split"], s["index"])), "stats": stats,
             "tally": tally, "errors": errors}
  with output_files.created(path, "application/json") as f:
    f.write(json.dumps(summary, sort_keys=True).encode("utf-8"))


def build_graph(p: beam.Pipeline, found: sources.SourceList, assignment: Mapping[str, str],
                spec: schema.FeatureSpec, shards_per_split: Mapping[str, int], output_dir: str) -> None:
  """Adds the whole job to `p`: every file it writes goes under output_dir (local or gs://)."""
  from preprocess import shard_writer

  decoded = (
      p
      | "ListInputs" >> beam.Create(list(enumerate(found.items)))
      | "SpreadOverWorkers" >> beam.Reshuffle()
      | "DecodeAndFeaturize" >> beam.ParDo(decode_source.ProcessSource(
          spec, assignment, shards_per_split, len(found.items))).with_outputs(
              decode_source.ERRORS, decode_source.TRAIN_STATS, decode_source.TALLY, main="records"))
  # One placeholder per shard, so that a shard no record hashes to is still written.
  every_shard = p | "EveryShard" >> beam.Create(
      [((split, index), None) for split, n in sorted(shards_per_split.items()) for index in range(n)])
  fragments = decoded.records | "WriteFragments" >> beam.ParDo(record_fragments.WriteFragments(output_dir))
  shards = (
      (fragments, every_shard)
      | "WithEveryShard" >> beam.Flatten()
      | "GroupByShard" >> beam.GroupByKey()
      | "WriteShards" >> beam.ParDo(shard_writer.WriteShard(output_dir, dict(shards_per_split))))
  stats = decoded[decode_source.TRAIN_STATS] | "TrainStats" >> beam.CombineGlobally(
      feature_stats.FeatureStatsFn(spec.mfcc_stats_dim))
  tally = decoded[decode_source.TALLY] | "Tally" >> beam.CombineGlobally(_SumCounts())
  missing = p | "MissingInputs" >> beam.Create(
      [error_report.entry(error_report.MISSING, m.path, m.reason, m.detail) for m in found.missing])
  errors = (
      (decoded[decode_source.ERRORS] | "AsReportEntries" >> beam.Map(_report_entry), missing)
      | "AllErrors" >> beam.Flatten()
      | "CollectErrors" >> beam.combiners.ToList()
      | "WriteErrorReport" >> beam.Map(error_report.write_report, output_dir))
  _ = (
      p
      | "Once" >> beam.Create([None])
      | "WriteJobSummary" >> beam.Map(
          _write_job_summary, FileSystems.join(output_dir, JOB_SUMMARY_FILE),
          shards=beam.pvalue.AsList(shards), stats=beam.pvalue.AsSingleton(stats),
          tally=beam.pvalue.AsSingleton(tally), errors=beam.pvalue.AsSingleton(errors)))


def _run(found: sources.SourceList, assignment: Mapping[str, str], spec: schema.FeatureSpec,
         shards_per_split: Mapping[str, int], output_dir: str, options: PipelineOptions,
         log: Callable[[str], None]) -> tuple[dict[str, Any], dict[str, int]]:
  """Runs the job; returns (its summary, Beam counters)."""
  p = beam.Pipeline(options=options)
  build_graph(p, found, assignment, spec, shards_per_split, output_dir)
  try:
    result = p.run()
    progress.follow(result, len(found.items), log)
  except Exception as e:  # each runner raises its own kinds
    raise PreprocessError(job_failure(e)) from e
  counters: dict[str, int] = {}
  for counter in result.metrics().query(MetricsFilter().with_namespace(decode_source.METRICS_NAMESPACE))["counters"]:
    counters[counter.key.metric.name] = counters.get(counter.key.metric.name, 0) + counter.committed
  summary_path = storage.join(output_dir, JOB_SUMMARY_FILE)
  summary = json.loads(storage.read_text(summary_path))
  destination.remove(summary_path)
  destination.remove(storage.join(output_dir, record_fragments.FRAGMENTS_DIR))
  return summary, counters


class _InputPlan(NamedTuple):
  found: sources.SourceList
  assignment: dict[str, str]        # group -> split
  shards_per_split: dict[str, int]


def _plan_inputs(input_path: str, media_dir: Optional[str], fractions: Sequence[float], seed: int,
                 num_shards: Optional[int], records_per_shard: int,
                 log: Callable[[str], None]) -> _InputPlan:
  """Finds the inputs, gives each group a split and fixes every split's shard count."""
  found = sources.discover(input_path, media_dir)
  if not found.items:
    raise PreprocessError(f"{input_path}: none of the {len(found.missing)} listed inputs has media "
                          f"in {media_dir}")
  group_labels: dict[str, list[str]] = {}
  for item in found.items:
    group_labels.setdefault(item.group, []).extend(item.labels)
  assignment = splits_lib.assign_splits(group_labels, fractions, seed)
  inputs_per_split = collections.Counter(assignment[item.group] for item in found.items)
  shards_per_split = sharding.plan_num_shards({s: inputs_per_split[s] for s in splits_lib.SPLITS},
                                              num_shards, records_per_shard)
  log(f"{len(found.items)} inputs ({found.kind}) in {len(group_labels)} groups"
      + (f"; {len(found.missing)} listed inputs have no media" if found.missing else "")
      + f"; shards: {', '.join(f'{s} {n}' for s, n in shards_per_split.items())}")
  return _InputPlan(found, assignment, shards_per_split)


def job_failure(error: BaseException) -> str:
  """One line for a job that failed: its cause (a worker's traceback reduced to its last line),
  what to do, and that no dataset was written."""
  lines = [line.strip() for line in str(error).splitlines()]
  causes = [line for line in lines if line and not line.startswith(("Traceback", "During handling",
                                                                     "The above exception", "File "))]
  cause = causes[-1] if causes else type(error).__name__
  while cause.startswith("RuntimeError: ") and ": " in cause[len("RuntimeError: "):]:
    cause = cause[len("RuntimeError: "):]   # Beam wraps a worker's error in RuntimeErrors
  advice = storage_faults.ADVICE.get(storage_faults.kind(error))
  again = "it starts over and writes the same dataset"
  if advice:
    then = f"{advice[0].upper()}{advice[1:]}, then run the same command again: {again}"
  else:
    then = (f"Run the same command again once its cause is gone (a worker that was killed or ran "
            f"out of memory needs nothing more): {again}")
  return f"the preprocessing job failed ({cause.rstrip('.')}); no dataset was written. {then}."


def _check_failures(errors: Mapping[str, Any], num_inputs: int, max_failure_fraction: float) -> None:
  """Raises PreprocessError when more than max_failure_fraction of the inputs failed."""
  failed_fraction = errors["failed"] / num_inputs
  if failed_fraction > max_failure_fraction:
    raise PreprocessError(
        f"{errors['failed']} of {num_inputs} inputs failed ({failed_fraction:.0%} > "
        f"max_failure_fraction {max_failure_fraction:.0%}); no dataset written. "
        f"By reason: {errors['by_reason']}. First: {'; '.join(errors['first_failures'])}")


def _write_metadata(staging: str, spec: schema.FeatureSpec, job: Mapping[str, Any],
                    found: sources.SourceList, input_path: str, media_dir: Optional[str],
                    fractions: Sequence[float], seed: int) -> dict[str, Any]:
  """Writes the metadata files of a finished job into staging; returns metadata.json's content.

  Raises PreprocessError when the job produced no record at all.
  """
  errors = job["errors"]
  splits = dataset_metadata.split_summaries(job["shards"], splits_lib.SPLITS)
  if not sum(s["num_examples"] for s in splits.values()):
    raise PreprocessError(f"{input_path}: no records were produced "
                          f"(failures by reason: {errors['by_reason'] or 'none'})")
  inputs = [os.path.abspath(input_path)] + ([os.path.abspath(media_dir)] if media_dir else [])
  return dataset_metadata.write(staging, spec, splits, job["stats"], extra={
      "split_fractions": dict(zip(splits_lib.SPLITS, fractions)),
      "seed": seed,
      "inputs": inputs,
      "num_inputs": len(found.items) + len(found.missing),
      "num_failed": errors["failed"] + errors["missing"],
      "failures_by_reason": errors["by_reason"],
      "short_inputs": {"padded": job["tally"].get("padded_inputs", 0), "skipped": errors["skipped"]},
  })


def build_dataset(input_path: str, output_dir: str, spec: Optional[schema.FeatureSpec] = None, *,
                  media_dir: Optional[str] = None,
                  split_fractions: Sequence[float] | str = splits_lib.DEFAULT_FRACTIONS,
                  seed: int = 0, num_shards: Optional[int] = None,
                  records_per_shard: int = sharding.DEFAULT_RECORDS_PER_SHARD, direct_num_workers: int = 2,
                  max_failure_fraction: float = 0.5, overwrite: bool = False,
                  pipeline_args: Sequence[str] = (),
                  log: Callable[[str], None] = print) -> dict[str, Any]:
  """Builds a dataset dir from a folder, a CSV manifest or an AudioSet list.

  Long for its arguments only: the steps are _plan_inputs, _run and _write_metadata.

  Args:
    input_path: label folders, the study's layout, a manifest or a segment list.
    output_dir: the dataset dir (local or gs://) to create; it appears only when complete.
    spec: feature spec (default: the paper preset).
    media_dir: downloaded media for an AudioSet segment list.
    split_fractions: (train, validation, test) or "0.7,0.15,0.15".
    seed: split seed.
    num_shards: shards per split; None: one per `records_per_shard` inputs.
    records_per_shard: the shard size aimed at when num_shards is None.
    direct_num_workers: DirectRunner worker processes (ignored by other runners).
    max_failure_fraction: fail, writing nothing, when more inputs fail.
    overwrite: replace an existing output_dir.
    pipeline_args: further Beam flags (--runner=..., --job_endpoint=..., --project=...).
    log: where progress and the summary go.

  Returns:
    metadata.json's content plus "elapsed_s", "clips_per_s" and "counters".
  Raises:
    FileExistsError: output_dir exists and overwrite is False.
    sources.InputError: the input cannot be read.
    ValueError: bad arguments or Beam flags.
    PreprocessError: too many failures, no record at all, a job that failed (a
      worker that died, a full disk), or another job writing the same output.
  """
  started = time.perf_counter()
  spec = spec or schema.preset("paper")
  fractions = splits_lib.parse_fractions(split_fractions)
  if not 0.0 <= max_failure_fraction <= 1.0:
    raise ValueError(f"max_failure_fraction must be within [0, 1], got {max_failure_fraction}")
  output_dir = storage.absolute(output_dir)
  options = runner_options.pipeline_options(direct_num_workers, pipeline_args, output_dir)
  if destination.output_exists(output_dir) and not overwrite:
    raise FileExistsError(f"{output_dir} exists; pass --overwrite to replace it")
  plan = _plan_inputs(input_path, media_dir, fractions, seed, num_shards, records_per_shard, log)

  try:
    target = destination.Destination(output_dir, log)
  except destination.OutputBusy as e:
    raise PreprocessError(str(e)) from e
  try:
    job, counters = _run(plan.found, plan.assignment, spec, plan.shards_per_split, target.staging,
                         options, log)
    _check_failures(job["errors"], len(plan.found.items), max_failure_fraction)
    metadata = _write_metadata(target.staging, spec, job, plan.found, input_path, media_dir,
                               fractions, seed)
    target.publish(overwrite)
  except BaseException as e:
    target.discard()
    if isinstance(e, OSError) and storage_faults.kind(e):
      raise PreprocessError(job_failure(e)) from e
    raise

  elapsed_s = time.perf_counter() - started
  summary = dict(metadata, elapsed_s=elapsed_s, clips_per_s=metadata["num_records"] / elapsed_s,
                 counters=counters)
  log(format_summary(summary, output_dir))
  return summary


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
