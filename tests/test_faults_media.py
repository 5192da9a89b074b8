"""Broken media through detection and preprocessing in one run (tests/media_fuzzer.py, seeded):
every file gets a result or one line naming it and its fault, no traceback, none runs past the
per-file bound, the worker's memory stays bounded, and the good files among the broken ones
give exactly what they give alone.

The default run is 120 broken files; `python -m tests.media_fuzz_report --count 1000` runs
1,000 and prints the counts (docs/faults.md records them).
"""
import os

import numpy as np
import pytest

import media_fuzz_report as report
import media_fuzzer

pytestmark = pytest.mark.slow

COUNT = int(os.environ.get("MEDIA_FUZZ_COUNT", "120"))
SEED = 0
# What the worker's peak memory may grow by over the files of at most LONG_MEDIA_S of media (a
# leak of a clip per file would pass it quickly). A longer file may raise the peak once by what
# it holds: preprocessing keeps an input's records until all are made (it is all-or-nothing).
MAX_RSS_GROWTH_MB = 300
LONG_MEDIA_S = 10.0


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory):
  folder = tmp_path_factory.mktemp("fuzz")
  good, files = report.corpus(folder, COUNT, SEED,
                              report.SHARED_DATA if report.SHARED_DATA.is_dir() else None)
  alone = report.run_files([(path, report.GOOD) for path in good], str(folder / "alone"))
  together = report.run_files(files, str(folder / "together"))
  print(report.table_text(together))
  return {o.path: o for o in alone}, together


def _offenders(outcomes, allowed):
  return [(os.path.basename(o.path), o.detect, o.detect_line, o.preprocess, o.preprocess_line)
          for o in outcomes if o.detect not in allowed or o.preprocess not in allowed]


def test_every_file_gets_a_result_or_one_line_naming_it(fuzzed):
  _, together = fuzzed
  assert len(together) == COUNT + len(set(o.path for o in together if o.mutation == report.GOOD))
  assert not _offenders(together, ("result", "error"))
  for o in together:
    for outcome, line in ((o.detect, o.detect_line), (o.preprocess, o.preprocess_line)):
      if outcome == "error":
        assert line.startswith(o.path) and "\n" not in line and "Traceback" not in line, line


def test_no_file_hangs_and_memory_stays_bounded(fuzzed):
  _, together = fuzzed
  for o in together:
    assert o.seconds < report.time_bound_s(o.media_s), (o.path, o.seconds, o.media_s)
  # One worker ran every file: no hang, crash or memory kill replaced it.
  peaks = [o.maxrss_mb for o in together]
  assert peaks == sorted(peaks)
  growth = sum(after - before for before, after, o in zip(peaks, peaks[1:], together[1:])
               if o.media_s <= LONG_MEDIA_S)
  print(f"peak memory {peaks[0]:.0f} MB after the first file, {peaks[-1]:.0f} MB after the last; "
        f"{growth:.0f} MB of the growth on files of at most {LONG_MEDIA_S:g} s")
  assert growth < MAX_RSS_GROWTH_MB
  assert peaks[-1] < report.MAX_RSS_MB


def test_the_good_files_give_what_they_give_alone(fuzzed):
  alone, together = fuzzed
  good = [o for o in together if o.mutation == report.GOOD]
  assert len(good) == len(alone) >= 4
  for o in good:
    first = alone[o.path]
    assert (first.detect, first.preprocess) == ("result", "result"), _offenders([first], ("result",))
    assert (o.detect, o.preprocess) == ("result", "result"), _offenders([o], ("result",))
    np.testing.assert_allclose(o.detect_value, first.detect_value, rtol=0, atol=1e-6)
    assert o.preprocess_value == first.preprocess_value   # the same records, byte for byte


def test_every_mutation_is_made_and_timestamps_past_what_the_bytes_hold_are_refused(fuzzed):
  _, together = fuzzed
  detect = report.counts(together, "detect")
  assert set(detect) == {*media_fuzzer.MUTATIONS, report.GOOD}
  assert all(detect[m]["error"] for m in ("truncation", "zero_length_stream", "timestamp_jump"))
  # Timestamps 10^7 s on would have had detection decode 116 days of silence.
  for o in together:
    if o.mutation == "timestamp_jump":
      for line in (o.detect_line, o.preprocess_line):
        assert ": implausible_duration: " in line, line
