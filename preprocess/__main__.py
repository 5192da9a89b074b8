"""`python -m preprocess --input <folder|manifest.csv|segments.csv> --output <dataset dir>`.

Flags this module does not know are handed to Beam, so other runners take
their usual flags: `--runner=PortableRunner --job_endpoint=HOST:PORT` (a Flink
or Spark job server, or Beam's local job service), `--runner=DataflowRunner
--project=P --region=R --temp_location=gs://... --setup_file=./setup.py`.
Workers write the shards themselves, so they must be able to read the inputs
and write --output (a gs:// URL on Dataflow); the launcher writes only the
small metadata files. See docs/preprocessing.md, "On a cluster".

Exit status: 0 when the dataset was written (failed inputs are listed in its
errors.jsonl), 1 when the job refused or failed (output exists or another job
is writing it, unreadable input, more failed inputs than
--max_failure_fraction, no records, a worker that died, a full disk), with a
one-line message; no dataset is written in that case, and running the same
command again starts over.
"""
from __future__ import annotations

import logging
import sys

from absl import app
from absl import flags

from babycry_jax import console
from babycry_jax.data import schema

FLAGS = flags.FLAGS

flags.DEFINE_string("input", None, "Label-folder root, the study's folder, a CSV manifest "
                    "(path,label[,start_s,end_s][,group]) or an AudioSet segment list.")
flags.DEFINE_string("media_dir", None, "Downloaded media named <YouTube id>.<ext> (AudioSet lists only).")
flags.DEFINE_string("output", None, "Dataset dir to create, local or gs://.")
flags.DEFINE_enum("preset", "paper", sorted(schema.PRESETS), "Feature preset.")
flags.DEFINE_float("window_s", None, "Window length in seconds (default: the preset's).")
flags.DEFINE_float("hop_s", None, "Step between windows of a long recording (default: the preset's).")
flags.DEFINE_enum("short_policy", None, ["pad", "skip"], "Inputs shorter than a window: pad or skip.")
flags.DEFINE_string("split_fractions", "0.7,0.15,0.15", "train,validation,test fractions.")
flags.DEFINE_integer("seed", 0, "Seed of the group-to-split assignment.")
flags.DEFINE_string("num_shards", "auto", "Shards per split, or 'auto' (one per --records_per_shard inputs).")
flags.DEFINE_integer("records_per_shard", 1000, "Inputs per shard when --num_shards is auto "
                     "(about 265 MiB at the paper preset).", lower_bound=1)
flags.DEFINE_integer("direct_num_workers", 2, "DirectRunner worker processes.", lower_bound=1)
flags.DEFINE_float("max_failure_fraction", 0.5, "Fail, writing nothing, if more inputs fail to decode.",
                   lower_bound=0.0, upper_bound=1.0)
flags.DEFINE_bool("overwrite", False, "Replace an existing --output.")


def _parse_flags(argv: list[str]) -> list[str]:
  # Unknown flags are kept for Beam instead of being rejected.
  return console.parse_flags(argv, known_only=True)


def main(argv: list[str]) -> int:
  from preprocess import pipeline, sources

  console.quiet_libraries()
  beam_args = argv[1:]
  if not FLAGS.input or not FLAGS.output:
    print("error: --input and --output are required", file=sys.stderr)
    return 1
  overrides = {k: getattr(FLAGS, k) for k in ("window_s", "hop_s", "short_policy")
               if getattr(FLAGS, k) is not None}
  if "window_s" in overrides and "hop_s" not in overrides:
    overrides["hop_s"] = overrides["window_s"]
  try:
    spec = schema.preset(FLAGS.preset, **overrides)
  except ValueError as e:
    print(f"error: {e} (from --window_s/--hop_s/--short_policy)", file=sys.stderr)
    return 1
  if FLAGS.num_shards == "auto":
    num_shards = None
  else:
    try:
      num_shards = int(FLAGS.num_shards)
      if num_shards < 1:
        raise ValueError
    except ValueError:
      print(f"error: --num_shards must be a positive integer or 'auto', got {FLAGS.num_shards!r}", file=sys.stderr)
      return 1
  try:
    pipeline.build_dataset(
        FLAGS.input, FLAGS.output, spec, media_dir=FLAGS.media_dir,
        split_fractions=FLAGS.split_fractions, seed=FLAGS.seed, num_shards=num_shards,
        records_per_shard=FLAGS.records_per_shard,
        direct_num_workers=FLAGS.direct_num_workers, max_failure_fraction=FLAGS.max_failure_fraction,
        overwrite=FLAGS.overwrite, pipeline_args=beam_args)
  except (OSError, ValueError, sources.InputError, pipeline.PreprocessError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 1
  return 0


if __name__ == "__main__":
  logging.getLogger("apache_beam").setLevel(logging.WARNING)
  app.run(main, flags_parser=_parse_flags)
