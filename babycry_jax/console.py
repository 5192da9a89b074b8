"""Our progress lines on stderr, apart from the libraries' INFO chatter (Orbax logs every save)."""
import ast
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


def parse_flags(argv: list[str], known_only: bool = False) -> list[str]:
  """absl's flag parsing for a command, with a one-line error (no traceback) on a bad flag.

  Pass as `app.run(main, flags_parser=console.parse_flags)`. A bad value of a
  config override (`--config.batchsize=8`) raises inside ml_collections; it is
  reported the same way. Exit status 1.
  """
  from absl import flags
  try:
    return flags.FLAGS(argv, known_only=known_only)
  except (flags.Error, AttributeError, KeyError, TypeError, ValueError) as e:
    detail = str(e)
    if detail[:1] in "'\"":  # ml_collections wraps its message in a repr
      try:
        detail = str(ast.literal_eval(detail))
      except (SyntaxError, ValueError):
        pass
    detail = " ".join(detail.split())
    print(f"error: {detail}\nPass --helpfull to see the flags.", file=sys.stderr)
    sys.exit(1)
