"""Messages to the user: library modules log through `logging.getLogger(__name__)`, commands choose how much shows.

Levels, so that one flag decides for every module:
- ERROR / WARNING: what the user must see even with --quiet (a record that was skipped or could not be read,
  a class too rare for the folds, one-line errors);
- INFO: progress worth a line (one per epoch, a fold loaded from a checkpoint, a conversion summary); progress
  bars are shown exactly when INFO is;
- DEBUG (--verbose): why the code chose what it chose (cache reused or rebuilt, a checkpoint not reused).

Messages go to stderr as the bare text, as before logging was used, so their wording is what the user and the
tests read; --verbose prefixes the level and the module. Importing team_code installs the handler at WARNING, so
without `configure` (a library user, a test) warnings and errors still reach stderr while INFO and the bars stay
off. Standard output is left to each command's own result (scores, tables), which is printed, not logged.
"""
from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import Iterator

from tqdm import tqdm

ROOT = "team_code"


class _TqdmStderrHandler(logging.Handler):
    """Writes through tqdm.write, so a message never tears a progress bar, to the sys.stderr of the moment."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:  # logging's contract: a failing handler reports itself, never raises into the caller
            self.handleError(record)


def install() -> None:
    """Give the team_code logger its stderr handler (once) and, unless a command set one, the WARNING level."""
    logger = logging.getLogger(ROOT)
    if not any(isinstance(h, _TqdmStderrHandler) for h in logger.handlers):
        handler = _TqdmStderrHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.WARNING)
    logger.propagate = False  # the user reads these on stderr once, whatever a host did to the root logger


def add_arguments(parser: argparse.ArgumentParser, quiet_help: str = "only warnings and errors, no progress bars"
                  ) -> None:
    """--quiet and --verbose, for every command the same way."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--quiet", action="store_true", help=quiet_help)
    group.add_argument("--verbose", action="store_true", help="also debugging messages, each naming its module")


def configure(quiet: bool = False, verbose: bool = False) -> None:
    """Send team_code's messages to stderr at the level the command line asked for; calling it again re-sets it."""
    install()
    logger = logging.getLogger(ROOT)
    for handler in logger.handlers:
        if isinstance(handler, _TqdmStderrHandler):
            handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s" if verbose else "%(message)s"))
    logger.setLevel(logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO)


def progress_bars() -> bool:
    """Whether tqdm bars are wanted: exactly when INFO messages are (not --quiet, and a command configured it)."""
    return logging.getLogger(ROOT).isEnabledFor(logging.INFO)


@contextlib.contextmanager
def errors_only() -> Iterator[None]:
    """Silence everything below ERROR for a while (the non-zero ranks of a distributed run, which would repeat
    rank 0's lines), then restore the level."""
    logger = logging.getLogger(ROOT)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)
