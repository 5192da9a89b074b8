"""What both recipes (real_audio, real_world) know of the recordings they list.

The error they raise when the shared folder is not as expected, the windows
the pipeline will cut from a recording, and the split group of a Donate-a-cry
file.
"""
from __future__ import annotations

from babycry_jax.data import schema
from preprocess import sources


class RecipeError(ValueError):
  """The shared folder does not have the expected layout or content."""


def window_intervals(duration_s: float, spec: schema.FeatureSpec) -> tuple[tuple[float, float], ...]:
  """(start_s, end_s) of the windows the pipeline cuts from a recording of duration_s.

  Full windows every hop_s, then a shorter last interval that the pipeline
  pads; none when the recording is shorter than spec.min_duration_s.
  """
  from babycry_jax.data import media_windows
  if duration_s < spec.min_duration_s:
    return ()
  return tuple((round(start_s, 3), round(min(start_s + spec.window_s, duration_s), 3))
               for start_s, _ in media_windows.window_starts(duration_s, spec, spec.hop_s))


def app_instance_group(file_name: str) -> str:
  """`device:<uuid>` for a Donate-a-cry file name `<uuid>-<timestamp>-...wav`."""
  group = sources.app_instance_group(file_name)
  if group is None:
    raise RecipeError(f"{file_name}: a Donate-a-cry file name must start with the app-instance "
                      "uuid (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx-...)")
  return group
