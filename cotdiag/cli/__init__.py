"""The ``cotdiag`` command line (typer). Subcommands live in sibling modules."""

from __future__ import annotations

import logging
import sys
from enum import Enum

import gymnasium
import typer

from cotdiag.error import CoTDiagError

logger = logging.getLogger(__name__)

#: Errors that bad input or the machine cause, not bugs: ``main`` reports them in one line.
#: ``OSError`` covers an ``--out`` that is a file or not writable and an unloadable model path;
#: ``gymnasium.error.Error`` an unknown env id.
USER_ERRORS: tuple[type[BaseException], ...] = (CoTDiagError, gymnasium.error.Error, OSError)


class Mode(str, Enum):
    """``--mode``: the study's two decoding modes (docs/concepts.md)."""

    prompt = "prompt"
    cot = "cot"


class Backend(str, Enum):
    """``--backend``: where episodes run."""

    local = "local"
    ray = "ray"

app = typer.Typer(
    name="cotdiag",
    help="CoTDiag: where do chain-of-thought training gains land in LLM agents?",
    no_args_is_help=True,
    add_completion=False,
    # Click's plain help wraps long option names and defaults at any width; rich's panels cut them
    # at 80 columns ("--history-keep-f…", "CoTDiag-ALFWorl…").
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)


@app.callback()
def _main(verbose: bool = typer.Option(False, "--verbose", "-v", help="Log at DEBUG level.")) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


from cotdiag.cli import diagnose as _diagnose  # noqa: E402,F401  (registers commands)
from cotdiag.cli import evaluate as _evaluate  # noqa: E402,F401  (registers commands)
from cotdiag.cli import leaderboard as _leaderboard  # noqa: E402,F401  (registers commands)
from cotdiag.cli import train as _train  # noqa: E402,F401  (registers commands)


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
