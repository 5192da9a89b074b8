"""Our progress lines on stderr, apart from the libraries' INFO chatter (Orbax logs every save)."""
import logging
import sys

_FORMAT = "%(asctime)s %(message)s"


def logger(name: str = "babycry_jax") -> logging.Logger:
  log = logging.getLogger(name)
  if not log.handlers:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(_FORMAT, "%H:%M:%S"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
  return log


def quiet_libraries() -> None:
  from absl import logging as absl_logging
  absl_logging.set_verbosity(absl_logging.WARNING)
