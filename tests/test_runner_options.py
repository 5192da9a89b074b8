"""Runner flags are checked before any work, and a bucket output keeps the graph off local paths."""
import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import DirectOptions, GoogleCloudOptions, SetupOptions

from babycry_jax.data import schema
from preprocess import pipeline, runner_options, sources

DATAFLOW = ["--runner=DataflowRunner", "--project=my-project", "--region=us-central1",
            "--temp_location=gs://my-bucket/tmp", "--setup_file=./setup.py"]


def test_direct_runner_is_the_default_with_its_workers():
  options = runner_options.pipeline_options(2)
  assert options.view_as(DirectOptions).direct_num_workers == 2
  assert options.view_as(DirectOptions).direct_running_mode == "multi_processing"
  assert runner_options.pipeline_options(1).view_as(DirectOptions).direct_running_mode == "in_memory"


@pytest.mark.parametrize("args, message", [
    (["--runner=DaskRunner"], "not supported"),
    (["--runner=PortableRunner"], "--job_endpoint"),
    (DATAFLOW[:1], "--project, --region, --temp_location"),
    ([a for a in DATAFLOW if not a.startswith("--setup_file")], "--setup_file"),
    ([a if not a.startswith("--temp") else "--temp_location=/tmp/x" for a in DATAFLOW], "gs://"),
])
def test_unworkable_flags_are_refused(args, message):
  with pytest.raises(ValueError, match=message):
    runner_options.pipeline_options(2, args, "gs://my-bucket/data")


def test_dataflow_needs_a_bucket_output_and_keeps_its_flags():
  with pytest.raises(ValueError, match="--output must be a gs:// URL"):
    runner_options.pipeline_options(2, DATAFLOW, "/data/babycry")
  options = runner_options.pipeline_options(2, DATAFLOW, "gs://my-bucket/data")
  assert options.view_as(GoogleCloudOptions).project == "my-project"
  assert options.view_as(SetupOptions).setup_file == "./setup.py"


def _strings(value):
  if isinstance(value, str):
    yield value
  elif isinstance(value, (list, tuple)):
    for v in value:
      yield from _strings(v)
  elif isinstance(value, dict):
    for v in value.values():
      yield from _strings(v)


def test_with_a_bucket_output_no_step_writes_a_local_path():
  item = sources.SourceItem(path="/media/crying/a.wav", source_id="crying/a.wav", label="crying", group="a")
  found = sources.SourceList(kind="label_folders", items=[item], missing=[])
  p = beam.Pipeline()
  pipeline.build_graph(p, found, {"a": "train"}, schema.preset("paper"), {"train": 1, "validation": 0, "test": 0},
                       "gs://my-bucket/data")
  paths = []

  class Collect(beam.pipeline.PipelineVisitor):
    def visit_transform(self, node):
      transform = node.transform
      if isinstance(transform, beam.ParDo):
        for value in [transform.args, transform.kwargs, vars(transform.fn)]:
          paths.extend(s for s in _strings(value) if "/" in s)

  p.visit(Collect())
  assert "gs://my-bucket/data" in paths and "gs://my-bucket/data/_job_summary.json" in paths
  assert all(path.startswith("gs://") for path in paths), paths
