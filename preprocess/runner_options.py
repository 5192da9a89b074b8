"""Beam options of the job: the DirectRunner by default, any portable runner or Dataflow by flags.

Flink, Spark and Dataflow (runner v2) run a Python pipeline through Beam's
portability layer, as `--runner=PortableRunner --job_endpoint=HOST:PORT` does
against a job service here: the workers share nothing with the launcher but
the output location. Beam's DaskRunner is refused: on Beam 2.77 it routed
tagged outputs into the main output and dropped a branch of a graph whose
collection had two consumers, while reporting success.
"""
from __future__ import annotations

from typing import Sequence

from apache_beam.options.pipeline_options import (GoogleCloudOptions, PipelineOptions, PortableOptions,
                                                  SetupOptions, StandardOptions, WorkerOptions)

from babycry_jax.data import storage

REFUSED_RUNNERS = ("DaskRunner",)


def _runner_name(options: PipelineOptions) -> str:
  runner = options.view_as(StandardOptions).runner or "DirectRunner"
  return runner if isinstance(runner, str) else type(runner).__name__


def pipeline_options(direct_num_workers: int, pipeline_args: Sequence[str] = (),
                     output_dir: str = "") -> PipelineOptions:
  """PipelineOptions for the job, checked before anything runs.

  Args:
    direct_num_workers: DirectRunner worker processes (other runners ignore it).
    pipeline_args: Beam flags (--runner=..., --job_endpoint=..., --project=...).
    output_dir: the dataset's location, which every worker must be able to write.
  Raises:
    ValueError: the flags cannot give a working job (what is missing is named).
  """
  args = list(pipeline_args)
  options = PipelineOptions(args)
  runner = _runner_name(options).rsplit(".", 1)[-1]
  if runner in REFUSED_RUNNERS:
    raise ValueError(f"--runner={runner} is not supported (it loses outputs on Beam 2.77); use the "
                     "DirectRunner, --runner=PortableRunner (Flink, Spark) or --runner=DataflowRunner")
  if runner == "DirectRunner":
    if not any(a.startswith("--direct_num_workers") for a in args):
      args += [f"--direct_num_workers={direct_num_workers}"]
    if not any(a.startswith("--direct_running_mode") for a in args):
      args += ["--direct_running_mode=" + ("multi_processing" if direct_num_workers > 1 else "in_memory")]
  elif runner == "PortableRunner" and not options.view_as(PortableOptions).job_endpoint:
    raise ValueError("--runner=PortableRunner needs --job_endpoint=HOST:PORT (a Beam job service: "
                     "Flink's or Spark's job server, or apache_beam.runners.portability.local_job_service_main)")
  elif runner == "DataflowRunner":
    _check_dataflow(options, output_dir)
  if not any(a.startswith("--default_sdk_harness_log_level") for a in args):
    # Workers log their start-up at INFO and a failed bundle's traceback at ERROR, which the
    # launcher reports in one line; their progress lines have a logger of their own. Pass
    # --default_sdk_harness_log_level=INFO to see it all.
    args += ["--default_sdk_harness_log_level=CRITICAL"]
  return PipelineOptions(args)


def _check_dataflow(options: PipelineOptions, output_dir: str) -> None:
  cloud = options.view_as(GoogleCloudOptions)
  setup = options.view_as(SetupOptions)
  missing = [flag for flag, value in (("--project", cloud.project), ("--region", cloud.region),
                                      ("--temp_location", cloud.temp_location)) if not value]
  if missing:
    raise ValueError(f"--runner=DataflowRunner needs {', '.join(missing)}")
  if not storage.is_url(cloud.temp_location):
    raise ValueError(f"--temp_location must be a gs:// URL on Dataflow, got {cloud.temp_location}")
  if output_dir and not storage.is_url(output_dir):
    raise ValueError(f"--output must be a gs:// URL on Dataflow (its workers cannot write {output_dir})")
  if not (setup.setup_file or options.view_as(WorkerOptions).sdk_container_image):
    raise ValueError("--runner=DataflowRunner needs --setup_file=./setup.py (or --sdk_container_image) "
                     "so that its workers can import this project")
