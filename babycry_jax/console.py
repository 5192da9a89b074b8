"""Our progress lines on stderr, apart from the libraries' INFO chatter (Orbax logs every save)."""
import ast
import logging
import sys
import threading

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
  """Libraries log warnings and errors only, each in one line: a command reports the failures
  that matter in its own words (Orbax, gcsfs and Beam log a traceback before raising)."""
  from absl import logging as absl_logging
  absl_logging.set_verbosity(absl_logging.WARNING)
  for handler in logging.getLogger().handlers:
    handler.addFilter(_OneLine())
  sys.unraisablehook = _one_line_unraisable
  threading.excepthook = _one_line_thread_failure


def _one_line(error: BaseException) -> str:
  return f"{type(error).__name__}: {' '.join(str(error).split())}"


class _OneLine(logging.Filter):
  """Shows a record's exception as one line after its message instead of a traceback."""

  def filter(self, record: logging.LogRecord) -> bool:
    if record.exc_info and record.exc_info[1] is not None:
      record.msg = f"{record.getMessage()} ({_one_line(record.exc_info[1])})"
      record.args = None
    record.exc_info = record.exc_text = record.stack_info = None
    return True


def _one_line_thread_failure(failure) -> None:
  # The error a thread died of reaches the command as well (Beam's job service, Orbax's saver).
  name = failure.thread.name if failure.thread is not None else "a thread"
  print(f"warning: {name} stopped: {_one_line(failure.exc_value)}", file=sys.stderr)


def _one_line_unraisable(unraisable) -> None:
  # tensorstore calls back into the event loop Orbax already closed after a failed save: noise.
  if isinstance(unraisable.exc_value, RuntimeError) and "Event loop is closed" in str(unraisable.exc_value):
    return
  print(f"warning: ignored {_one_line(unraisable.exc_value)}", file=sys.stderr)


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


def parse_only_flags(argv: list[str]) -> list[str]:
  """parse_flags for a command that takes flags only: a positional argument is one error line,
  exit status 1."""
  rest = parse_flags(argv)
  if len(rest) > 1:
    print(f"error: unexpected arguments {rest[1:]}", file=sys.stderr)
    sys.exit(1)
  return rest
