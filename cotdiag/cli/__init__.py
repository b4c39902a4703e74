"""The ``cotdiag`` command line: the typer app (:mod:`.app`), its commands, and the console entry point."""

from __future__ import annotations

import logging
import sys

import gymnasium
import typer

from cotdiag.cli import demo as _demo  # noqa: F401  (registers commands)
from cotdiag.cli import diagnose as _diagnose  # noqa: F401  (registers commands)
from cotdiag.cli import evaluate as _evaluate  # noqa: F401  (registers commands)
from cotdiag.cli import leaderboard as _leaderboard  # noqa: F401  (registers commands)
from cotdiag.cli import train as _train  # noqa: F401  (registers commands)
from cotdiag.cli.app import app
from cotdiag.error import CoTDiagError

logger = logging.getLogger(__name__)

#: Errors that bad input or the machine cause, not bugs: ``main`` reports them in one line.
#: ``OSError`` covers an ``--out`` that is a file or not writable and an unloadable model path;
#: ``gymnasium.error.Error`` an unknown env id.
USER_ERRORS: tuple[type[BaseException], ...] = (CoTDiagError, gymnasium.error.Error, OSError)

__all__ = ["USER_ERRORS", "app", "main", "one_line"]


def one_line(error: BaseException) -> str:
    """``"<ErrorName>: <first line of the message>"`` (what ``main`` prints on stderr)."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}".rstrip(": ")


def main(argv: list[str] | None = None) -> None:
    """The ``cotdiag`` console script: run the app; a known user error is one line and exit 1.

    Usage errors (a bad option value) exit 2 with click's message. An error in
    :data:`USER_ERRORS` prints ``cotdiag: error: <ErrorName>: <message>`` on stderr and exits 1;
    with ``--verbose`` the traceback is logged too. Any other exception is a bug and propagates
    with its traceback.

    Args:
        argv: the arguments (``None``: ``sys.argv[1:]``).

    Raises:
        SystemExit: always (the command's exit code).
    """
    try:
        app(args=argv, prog_name="cotdiag")
    except USER_ERRORS as e:
        logger.debug("cotdiag failed", exc_info=True)
        typer.echo(f"cotdiag: error: {one_line(e)}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        typer.echo("cotdiag: interrupted: rerun the same command to resume (finished episodes and saved "
                   "checkpoints are kept)", err=True)
        sys.exit(130)
