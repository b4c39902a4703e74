"""The ``cotdiag`` typer app, its console and logging (commands live in siblings; their options come from
config dataclasses, :mod:`cotdiag.cli.options`)."""

from __future__ import annotations

import logging
import warnings

import typer
from rich.console import Console

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


def make_console() -> Console:
    """The commands' console: the terminal's, or, when output is piped or logged, one 200 columns
    wide that never wraps a line (tables keep whole headers, progress lines stay one line each)."""
    c = Console()
    return c if c.is_terminal else Console(width=200, soft_wrap=True)


#: Libraries whose DEBUG lines drown the log with -v (matplotlib's font scan alone prints hundreds).
QUIET_LOGGERS: tuple[str, ...] = ("matplotlib", "PIL", "urllib3", "filelock", "fsspec", "httpx", "httpcore",
                                  "asyncio", "py4j")
#: Libraries whose WARNING lines are not the user's concern: torchao (the `bf16` extra), imported by
#: transformers and peft when installed, warns at import that its GPU kernels (mxfp8, cutlass) do not
#: load on a CPU machine, and registers enums that torch's pytree warns about.
SILENT_LOGGERS: tuple[str, ...] = ("torchao", "torch.utils._pytree")
#: Deprecation warnings of libraries that every training run would print, with nothing for the user to do.
QUIET_WARNINGS: tuple[str, ...] = (r".*`gradient_checkpointing` is deprecated.*", r".*pin_memory.*")


@app.callback()
def _main(verbose: bool = typer.Option(False, "--verbose", "-v", help="Log at DEBUG level.")) -> None:
    """CoTDiag's own messages at INFO (DEBUG with -v); other libraries at WARNING."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("cotdiag").setLevel(logging.DEBUG if verbose else logging.INFO)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    for name in SILENT_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    for message in QUIET_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=FutureWarning)
        warnings.filterwarnings("ignore", message=message, category=UserWarning)
