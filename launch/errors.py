"""The two ways a launch.sh command fails, each with its exit status."""
from __future__ import annotations


class UsageError(Exception):
  """Bad arguments: one line, the subcommand's usage line, exit status 2."""


class LaunchError(Exception):
  """A step that could not be done (gcloud failed, a worker refused): one line, `status`."""

  def __init__(self, message: str, status: int = 1):
    super().__init__(message)
    self.status = status
