"""The ``cotdiag`` command line (typer). Subcommands live in sibling modules."""

from __future__ import annotations

import logging
from enum import Enum

import typer


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
