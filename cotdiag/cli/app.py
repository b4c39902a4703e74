"""The ``cotdiag`` typer app and the option types its commands share (commands live in siblings)."""

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
