"""``cotdiag evaluate`` and ``cotdiag demo``."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

import cotdiag  # noqa: F401  (registers envs)
from cotdiag.agents.registry import make_policy
from cotdiag.cli.app import Executor, Mode, app, make_console
from cotdiag.cli.options import OptionsCommand, command_options
from cotdiag.rollout import evaluate as run_evaluate

console = make_console()
#: Policy kinds that produce free text and so need the decoding wrapper (``--mode``).
LLM_POLICY_KINDS: tuple[str, ...] = ("hf", "openai")


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


def policy_protocol(policy: str, history: str | None, history_window: int | None):
    """The decoding protocol of an ``hf:`` policy's checkpoint, checked against explicit options.

    Returns ``None`` when the run should use the per-option window rendering (no protocol file, or
    ``--history window`` without one); logs once when a checkpoint has no protocol file.

    Raises:
        InvalidConfigError: an explicit option contradicts the checkpoint's protocol.
    """
    from cotdiag.agents.pretrained import model_protocol, resolve_model
    from cotdiag.error import InvalidConfigError
    from cotdiag.response.protocol import DecodingProtocol

    kind, _, arg = policy.partition(":")
    saved = model_protocol(policy)
    if saved is None and kind == "hf" and arg and Path(resolve_model(arg)).is_dir():
        logging.getLogger(__name__).warning("%s has no cotdiag_protocol.json: using the options' window "
                                            "rendering (the behaviour before protocols)", arg)
    if saved is None:
        if history == "conversation":
            return DecodingProtocol(history="conversation")
        return None
    if history is not None and history != saved.history:
        raise InvalidConfigError(f"--history {history} contradicts the checkpoint's protocol (history "
                                 f"{saved.history!r} in {arg}/cotdiag_protocol.json)")
    if history_window is not None and saved.history == "window" and history_window != saved.window:
        raise InvalidConfigError(f"--history_window {history_window} contradicts the checkpoint's protocol "
                                 f"(window {saved.window})")
    if history_window is not None and saved.history == "conversation":
        raise InvalidConfigError("--history_window applies to the 'window' policy; the checkpoint's protocol is "
                                 "'conversation'")
    return saved


@app.command(cls=OptionsCommand)
@command_options
def evaluate(
    env: str = typer.Option("CoTDiag-ALFWorld-v0", help="Registered Gymnasium env id."),
    split: str = typer.Option(None, help="Task split (default: the env's default)."),
    policy: str = typer.Option(
        "expert", help="Policy spec: expert | random | hf:PATH_OR_HUB_ID (e.g. hf:smollm2-135m) | openai:MODEL@URL | sb3:PATH."),
    episodes: int = typer.Option(10, min=1, help="Number of episodes."),
    seed: int = typer.Option(0, help="Base seed: episode i resets with seed+i."),
    out: Path = typer.Option(Path("runs/evaluate"), help="Run directory (resumes if it exists)."),
    max_steps: int = typer.Option(None, min=1, help="Override the registration's max_episode_steps."),
    env_kwarg: list[str] = typer.Option([], "--env_kwarg", metavar="KEY=VALUE", help="Extra env kwarg KEY=VALUE (JSON value)."),
    policy_kwarg: list[str] = typer.Option(
        [], "--policy_kwarg", metavar="KEY=VALUE",
        help="Policy constructor kwarg KEY=VALUE (JSON value), e.g. api=chat for openai:, max_new_tokens=64 for hf:.",
    ),
    import_: list[str] = typer.Option(
        [], "--import", metavar="MODULE", help="User module (dotted name or .py path) that registers envs/policies."
    ),
    backend: Executor = typer.Option(Executor.local, help="Where episodes run."),
    ray_address: str = typer.Option(None, help="Ray cluster address (default: a local Ray instance)."),
    num_workers: int = typer.Option(None, min=1, help="Ray actors (default: one per CPU)."),
    num_envs: int = typer.Option(
        1, "--num_envs", min=1, help="Local backend: episodes played at once on an async vector env (one process each)."
    ),
    mode: Mode = typer.Option(None, help="LLM policies: decode through the decoding wrapper (default: raw env)."),
    history: str = typer.Option(None, help="With --mode: history policy 'conversation' or 'window' (default: the "
                                "checkpoint's cotdiag_protocol.json; without one, 'window')."),
    history_window: int = typer.Option(None, help="With --mode, 'window' policy: past steps shown (-1: all; default 3)."),
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

        protocol = policy_protocol(policy, history, history_window)
        window = 3 if history_window is None else (None if history_window < 0 else history_window)
        extra["make_env"] = DecodedEnvFactory(env, mode.value, history_window=window, max_episode_steps=max_steps,
                                              history_keep_first=history_keep_first, protocol=protocol)
    summary = run_with_progress(
        env, policy, out, split=split, episodes=episodes, seed=seed,
        max_episode_steps=max_steps, env_kwargs=_parse_kwargs(env_kwarg), policy_kwargs=_parse_kwargs(policy_kwarg),
        backend=backend.value, ray_address=ray_address, num_workers=num_workers, num_envs=num_envs, **extra,
    )
    if summary.get("errors"):
        console.print(f"[red]error:[/red] {summary['errors']} of {summary['episodes']} episodes failed "
                      f"(tracebacks in {out / 'episodes.jsonl'}, key 'error'; -v prints them)")
        for cls, n in summary.get("failure_classes", {}).items():
            console.print(f"  {n} × {cls}", soft_wrap=True, markup=False)
        raise typer.Exit(1)
