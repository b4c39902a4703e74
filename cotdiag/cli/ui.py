"""The CLI's :class:`~cotdiag.pipelines.ui.PipelineUI`: rich rules, lines and progress bars on a
terminal; one plain line per tenth of the work when piped."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from cotdiag.cli.app import make_console
from cotdiag.pipelines.ui import tenths_reporter


def progress_bar(console: Console) -> Progress:
    """The rich progress bar of the commands."""
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console)


class RichUI:
    """Stages as rules, lines as prints, progress as a bar (a line per tenth when not on a terminal)."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or make_console()

    def stage(self, title: str) -> None:
        self.console.rule(f"[bold]{title}")

    def say(self, text: str) -> None:
        self.console.print(text)

    @contextmanager
    def progress(self, label: str, total: int | None) -> Iterator[Callable[..., None]]:
        if not self.console.is_terminal:
            yield tenths_reporter(self.console.print, label, total)
            return
        with progress_bar(self.console) as bar:
            task = bar.add_task(label, total=total)

            def update(done: int, *, total: int | None = None, description: str | None = None) -> None:
                bar.update(task, completed=done, **({} if total is None else {"total": total}),
                           **({} if description is None else {"description": description}))

            yield update
