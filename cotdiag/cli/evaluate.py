"""``cotdiag evaluate``: the command line of :class:`cotdiag.pipelines.evaluate.EvaluateJob`, its progress and table."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

import cotdiag  # noqa: F401  (registers envs)
from cotdiag.agents.registry import make_policy
from cotdiag.cli.app import app, make_console
from cotdiag.cli.options import OptionsCommand, command_options, options_from
from cotdiag.pipelines.evaluate import LLM_POLICY_KINDS, EvaluateJob
from cotdiag.rollout import evaluate as run_evaluate

console = make_console()


def summary_table(summary: dict) -> Table:
    """A rich table: one row per task type plus the overall row."""
    mode = f", {summary['mode']} mode" if summary.get("mode") else ""
    title = f"{summary['policy']} on {summary['env_id']} ({summary['split']}{mode})"
    table = Table(title=title)
    for col in ("task type", "episodes", "success rate", "95% CI", "mean score", "mean steps", "format errors",
                "invalid actions", "failed episodes"):
        table.add_column(col, justify="left" if col == "task type" else "right")

    def row(name: str, s: dict, style: str | None = None) -> None:
        lo, hi = s["success_rate_ci95"]
        table.add_row(
            name, str(s["episodes"]), f"{s['success_rate']:.3f}", f"[{lo:.3f}, {hi:.3f}]",
            f"{s['mean_score']:.3f}", f"{s['mean_steps']:.1f}", f"{s.get('format_error_rate', 0.0):.1%}",
            f"{s.get('invalid_action_rate', 0.0):.1%}", str(s.get("errors", 0)), style=style,
        )

    for name, s in summary["by_task_type"].items():
        row(name, s)
    row("all", summary, style="bold")
    return table


def run_with_progress(env_id: str, policy_spec: str, out: Path, *, policy_kwargs: dict | None = None,
                      **kwargs) -> dict:
    """Evaluate with a rich progress bar and print the summary table.

    A clean-action policy (expert, random, sb3) run through the decoding wrapper (``make_env`` with a
    mode) answers through :class:`~cotdiag.agents.responder.ActionResponder`, as on the leaderboard.
    """
    policy = make_policy(policy_spec, seed=kwargs.get("seed", 0), **(policy_kwargs or {}))
    if callable(getattr(policy, "probe", None)):
        policy.probe()  # a dead endpoint: one line now, not one traceback per episode after the retries
    if getattr(kwargs.get("make_env"), "mode", None) and policy_spec.partition(":")[0] not in LLM_POLICY_KINDS:
        from cotdiag.agents.responder import ActionResponder

        policy = ActionResponder(policy, policy_spec)
    label = f"{policy_spec} on {env_id}"
    if not console.is_terminal:  # piped or logged: one line per finished episode instead of a bar
        summary = run_evaluate(env_id, policy, out, progress=lambda done, total: console.print(
            f"{label}: {done}/{total} episodes", soft_wrap=True), **kwargs)
    else:
        with Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=console,
        ) as bar:
            task = bar.add_task(label, total=kwargs.get("episodes", 10))
            summary = run_evaluate(
                env_id, policy, out, progress=lambda done, total: bar.update(task, completed=done), **kwargs
            )
    console.print(summary_table(summary))
    console.print(f"episodes: {out / 'episodes.jsonl'}  summary: {out / 'summary.json'}")
    return summary


@app.command(cls=OptionsCommand)
@command_options
@options_from(aliases={"import_modules": ["--import"]}, job=EvaluateJob)
def evaluate(job: EvaluateJob) -> None:
    """Run POLICY on ENV and write OUT/episodes.jsonl (resumable) and OUT/summary.json. Every field of
    EvaluateJob is an option."""
    from cotdiag.plugins import import_user_modules

    import_user_modules(job.import_modules)
    summary = run_with_progress(job.env, job.policy, job.out, policy_kwargs=job.policy_kwargs, **job.evaluate_kwargs())
    if summary.get("errors"):
        console.print(f"[red]error:[/red] {summary['errors']} of {summary['episodes']} episodes failed "
                      f"(tracebacks in {job.out / 'episodes.jsonl'}, key 'error'; -v prints them)")
        for cls, n in summary.get("failure_classes", {}).items():
            console.print(f"  {n} × {cls}", soft_wrap=True, markup=False)
        raise typer.Exit(1)
