"""``cotdiag leaderboard run`` and ``cotdiag leaderboard show``."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cotdiag.cli.app import app, make_console
from cotdiag.cli.options import OptionsCommand, command_options, options_from
from cotdiag.pipelines.leaderboard import LeaderboardJob

console = make_console()


def _out() -> Console:
    """The console for tables: the terminal's, or a wide one when piped (no wrapped headers in logs)."""
    return console
leaderboard_app = typer.Typer(help="Compare policies on a pinned suite.", no_args_is_help=True)
app.add_typer(leaderboard_app, name="leaderboard")


@leaderboard_app.command("run", cls=OptionsCommand)
@command_options
@options_from(aliases={"import_modules": ["--import"]}, job=LeaderboardJob)
def run(job: LeaderboardJob) -> None:
    """Play every (policy, suite entry, decoding mode) cell into OUT, then render the tables. Every field
    of LeaderboardJob is an option."""
    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console,
    ) as bar:
        tasks: dict[str, int] = {}

        def progress(label: str, done: int, total: int) -> None:
            if label not in tasks:
                tasks[label] = bar.add_task(label, total=total)
            bar.update(tasks[label], completed=done)

        the_suite, statuses = job.run(progress)
    out = job.out
    table = Table(title=f"suite {the_suite.name} v{the_suite.version}")
    for col in ("policy", "env", "split", "mode", "status", "episodes", "success rate", "reason"):
        table.add_column(col)
    for s in statuses:
        rate = "" if s.success_rate is None else f"{s.success_rate:.3f}"
        style = {"done": None, "skipped": "yellow", "failed": "red"}[s.status]
        table.add_row(s.policy, s.env_id, s.split, s.mode, s.status, str(s.episodes), rate, s.reason, style=style)
    _out().print(table)
    _show(out)


def _show(out: Path) -> None:
    from cotdiag.leaderboard.render import render

    paths = render(out)
    _out().print(paths["markdown"].read_text())
    console.print("  ".join(f"{k}: {v}" for k, v in paths.items()))


@leaderboard_app.command("show", cls=OptionsCommand)
@command_options
def show(out: Path = typer.Argument(..., metavar="OUT", help="Leaderboard directory.")) -> None:  # noqa: B008
    """Write OUT/leaderboard.md, OUT/leaderboard.html and OUT/cot_advantage.png and print the table."""
    if not (out / "leaderboard.sqlite").exists():
        console.print(f"[red]no leaderboard.sqlite in {out}[/red]")
        raise typer.Exit(1)
    _show(out)
