"""``cotdiag evaluate`` and ``cotdiag demo``."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

import cotdiag  # noqa: F401  (registers envs)
from cotdiag.agents.registry import make_policy
from cotdiag.cli.app import Backend, Mode, app
from cotdiag.rollout import evaluate as run_evaluate

console = Console()
#: Policy kinds that produce free text and so need the decoding wrapper (``--mode``).
LLM_POLICY_KINDS: tuple[str, ...] = ("hf", "openai")


def summary_table(summary: dict) -> Table:
    """A rich table: one row per task type plus the overall row."""
    title = f"{summary['policy']} on {summary['env_id']} ({summary['split']})"
    table = Table(title=title)
    for col in ("task type", "episodes", "success rate", "95% CI", "mean score", "mean steps", "format errors",
                "errors"):
        table.add_column(col, justify="left" if col == "task type" else "right")

    def row(name: str, s: dict, style: str | None = None) -> None:
        lo, hi = s["success_rate_ci95"]
        table.add_row(
            name, str(s["episodes"]), f"{s['success_rate']:.3f}", f"[{lo:.3f}, {hi:.3f}]",
            f"{s['mean_score']:.3f}", f"{s['mean_steps']:.1f}", f"{s.get('format_error_rate', 0.0):.1%}",
            str(s.get("errors", 0)), style=style,
        )

    for name, s in summary["by_task_type"].items():
        row(name, s)
    row("all", summary, style="bold")
    return table


def _parse_kwargs(items: list[str]) -> dict:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise typer.BadParameter(f"expected KEY=VALUE, got {item!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def run_with_progress(env_id: str, policy_spec: str, out: Path, *, policy_kwargs: dict | None = None,
                      **kwargs) -> dict:
    """Evaluate with a rich progress bar and print the summary table."""
    policy = make_policy(policy_spec, seed=kwargs.get("seed", 0), **(policy_kwargs or {}))
    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console,
    ) as bar:
        task = bar.add_task(f"{policy_spec} on {env_id}", total=kwargs.get("episodes", 10))
        summary = run_evaluate(
            env_id, policy, out, progress=lambda done, total: bar.update(task, completed=done), **kwargs
        )
    console.print(summary_table(summary))
    console.print(f"episodes: {out / 'episodes.jsonl'}  summary: {out / 'summary.json'}")
    return summary


@app.command()
def evaluate(
    env: str = typer.Option("CoTDiag-ALFWorld-v0", help="Registered Gymnasium env id."),
    split: str = typer.Option(None, help="Task split (default: the env's default)."),
    policy: str = typer.Option(
        "expert", help="Policy spec: expert | random | hf:PATH_OR_HUB_ID (e.g. hf:smollm2-135m) | openai:MODEL@URL | sb3:PATH."),
    episodes: int = typer.Option(10, min=1, help="Number of episodes."),
    seed: int = typer.Option(0, help="Base seed: episode i resets with seed+i."),
    out: Path = typer.Option(Path("runs/evaluate"), help="Run directory (resumes if it exists)."),
    max_steps: int = typer.Option(None, min=1, help="Override the registration's max_episode_steps."),
    env_kwarg: list[str] = typer.Option([], "--env-kwarg", metavar="KEY=VALUE", help="Extra env kwarg KEY=VALUE (JSON value)."),
    policy_kwarg: list[str] = typer.Option(
        [], "--policy-kwarg", metavar="KEY=VALUE",
        help="Policy constructor kwarg KEY=VALUE (JSON value), e.g. api=chat for openai:, max_new_tokens=64 for hf:.",
    ),
    import_: list[str] = typer.Option(
        [], "--import", metavar="MODULE", help="User module (dotted name or .py path) that registers envs/policies."
    ),
    backend: Backend = typer.Option(Backend.local, help="Where episodes run."),
    ray_address: str = typer.Option(None, help="Ray cluster address (default: a local Ray instance)."),
    num_workers: int = typer.Option(None, min=1, help="Ray actors (default: one per CPU)."),
    num_envs: int = typer.Option(
        1, "--num-envs", min=1, help="Local backend: episodes played at once on an async vector env (one process each)."
    ),
    mode: Mode = typer.Option(None, help="LLM policies: decode through the decoding wrapper (default: raw env)."),
    history_window: int = typer.Option(3, help="With --mode: past steps shown in the prompt (-1: all)."),
    history_keep_first: bool = typer.Option(True, help="With --mode: always show the episode's first observation."),
) -> None:
    """Run POLICY on ENV and write OUT/episodes.jsonl (resumable) and OUT/summary.json."""
    from cotdiag.plugins import import_user_modules

    import_user_modules(import_)
    extra = {}
    if mode is None and policy.partition(":")[0] in LLM_POLICY_KINDS:
        raise typer.BadParameter(
            f"an LLM policy ({policy}) needs --mode prompt or --mode cot: without the decoding wrapper it gets "
            "the raw observation with no instructions and its whole completion would be sent as the action")
    if mode is not None:
        from cotdiag.rollout.factory import DecodedEnvFactory

        extra["make_env"] = DecodedEnvFactory(env, mode.value, None if history_window < 0 else history_window, max_steps,
                                              history_keep_first)
    summary = run_with_progress(
        env, policy, out, split=split, episodes=episodes, seed=seed,
        max_episode_steps=max_steps, env_kwargs=_parse_kwargs(env_kwarg), policy_kwargs=_parse_kwargs(policy_kwarg),
        backend=backend.value, ray_address=ray_address, num_workers=num_workers, num_envs=num_envs, **extra,
    )
    if summary.get("errors"):
        console.print(f"[red]error:[/red] {summary['errors']} of {summary['episodes']} episodes failed "
                      f"(tracebacks in {out / 'episodes.jsonl'}, key 'error')")
        raise typer.Exit(1)


@app.command()
def demo(
    out: Path = typer.Option(Path("runs/demo"), help="Where the demo writes its runs (stages resume)."),
    train_episodes: int = typer.Option(30, min=1, help="Expert episodes on ALFWorld train for SFT data."),
    eval_episodes: int = typer.Option(6, min=1, help="Episodes per (policy, mode, split)."),
    eval_max_steps: int = typer.Option(25, min=1, help="Step limit of evaluation episodes."),
    epochs: float = typer.Option(4.0, help="SFT epochs."),
    num_envs: int = typer.Option(2, min=1, help="Async ALFWorld envs per evaluation (env steps in parallel)."),
) -> None:
    """The main job: the study at small scale on real ALFWorld games (see cotdiag.cli.demo).

    Expert data with CoT on train games, a tiny tokenizer and Qwen2 model, SFT with k=0 and k=0.3,
    evaluation in prompt and CoT mode on valid_seen and valid_unseen next to the random policy.
    """
    from cotdiag.cli.demo import DemoConfig, run_demo

    run_demo(out, DemoConfig(train_episodes=train_episodes, eval_episodes=eval_episodes,
                             eval_max_steps=eval_max_steps, epochs=epochs, num_envs=num_envs))
