"""``cotdiag diagnose``: prompt-vs-CoT, faithfulness battery, conflicting-trace, attention and gradient diagnostics."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import typer

import cotdiag  # noqa: F401  (registers envs)
from cotdiag.cli.app import app, make_console
from cotdiag.cli.options import OptionsCommand, command_options

console = make_console()
logger = logging.getLogger(__name__)


def _model_path(spec: str) -> str:
    kind, sep, arg = spec.partition(":")
    if sep and kind == "hf":
        return arg
    if sep and kind not in ("hf",) and not Path(spec).exists():
        raise typer.BadParameter(f"expected hf:PATH or a model folder, got {spec!r}")
    return spec


def _config(*, fractions: str, sources: str, **kw: Any) -> Any:
    """The :class:`~cotdiag.diagnostics.sweep.DiagnoseConfig` of the options (bad values: BadParameter)."""
    from cotdiag.diagnostics.sweep import DiagnoseConfig

    try:
        return DiagnoseConfig(
            fractions=tuple(float(f) for f in fractions.split(",") if f.strip()),
            sources=tuple(s.strip() for s in sources.split(",") if s.strip()), **kw,
        )
    except ValueError as e:
        raise typer.BadParameter(str(e)) from e


@app.command(cls=OptionsCommand)
@command_options
def diagnose(
    policy: str = typer.Option(None, help="Model to diagnose: hf:PATH (a final model; with --checkpoints it is added last)."),
    checkpoints: Path = typer.Option(None, help="Folder of checkpoint-N sub-folders, diagnosed in order of N."),
    env: str = typer.Option("CoTDiag-ALFWorld-v0", help="Registered env id."),
    split: str = typer.Option("valid_seen", help="Env split of the held-out states and online episodes."),
    out: Path = typer.Option(Path("runs/diagnose"), help="Output folder (report.json, report.md, PNGs)."),
    data: Path = typer.Option(None, help="Saved dataset of held-out states (cotdiag build-data); default: build it."),
    exclude_data: Path = typer.Option(None, help="Training dataset (cotdiag build-data): its task ids are left out of the held-out states and the online plan."),
    data_episodes: int = typer.Option(5, min=1, help="Expert episodes played to build the states when --data is not given."),
    states: int = typer.Option(50, min=1, help="States for the offline metrics (a seeded random sample)."),
    conflict_states: int = typer.Option(None, min=0, help="States for the conflicting-trace test (0: skip; default: 30 or --states if fewer)."),
    fractions: str = typer.Option("0,0.25,0.5,0.75,1", help="Trace truncation fractions, comma-separated."),
    sources: str = typer.Option("swap,templated", help="Conflicting-trace sources: swap, templated."),
    tests: str = typer.Option("", help="CoT faithfulness battery on the offline states (docs/faithfulness.md): comma-separated "
                              "early, mistake, paraphrase, filler, hint, or all; default none. Early answering uses --fractions."),
    attribution_examples: int = typer.Option(None, min=0, help="Examples for attention and gradient mass (0: skip; default: 20 or --states if fewer)."),
    top_k_percent: float = typer.Option(10.0, help="K of the top-K% attended-positions share."),
    online_episodes: int = typer.Option(0, min=0, help="Online episodes per decoding mode (0: skip)."),
    online_max_steps: int = typer.Option(None, min=1, help="Step limit of online episodes (default: the registration's)."),
    max_new_tokens: int = typer.Option(128, min=1, help="Generation budget per response (tokens)."),
    max_prompt_tokens: int = typer.Option(None, min=1, help="Prompts longer than this keep their last tokens (default: model positions minus --max_new_tokens); use the training length for models trained on truncated prompts."),
    batch_size: int = typer.Option(8, min=1, help="Generation batch size."),
    device: str = typer.Option(None, help="cpu, cuda, ... (default: GPU when present)."),
    seed: int = typer.Option(0, help="Seed of data building, trace choice, bootstrap and the online plan."),
) -> None:
    """Diagnose a model (or each checkpoint of a run): offline and online prompt-vs-CoT actions,
    the CoT faithfulness battery (--tests), conflicting-trace revision, attention and gradient
    mass. Writes OUT/report.json, OUT/report.md and PNG plots. Each finished stage is kept in
    OUT/stages/: rerun the same command after a kill and it resumes at the next stage."""
    from cotdiag.cli.ui import RichUI
    from cotdiag.pipelines.diagnose import DiagnoseJob, run_diagnose

    if policy is None and checkpoints is None:
        raise typer.BadParameter("expected --policy hf:PATH and/or --checkpoints DIR")
    conflict_states = min(30, states) if conflict_states is None else conflict_states
    attribution_examples = min(20, states) if attribution_examples is None else attribution_examples
    cfg = _config(offline_states=states, conflict_states=conflict_states, fractions=fractions, sources=sources,
                  attribution_examples=attribution_examples, top_k_percent=top_k_percent,
                  online_episodes=online_episodes, seed=seed, faithfulness_tests=tests)
    job = DiagnoseJob(env=env, split=split, out=out, policy=_model_path(policy) if policy is not None else None,
                      checkpoints=checkpoints, data=data, exclude_data=exclude_data, data_episodes=data_episodes,
                      online_max_steps=online_max_steps, max_new_tokens=max_new_tokens,
                      max_prompt_tokens=max_prompt_tokens, batch_size=batch_size, device=device, seed=seed)
    report = run_diagnose(job, cfg, ui=RichUI(console))
    off = report["checkpoints"][-1].get("offline", {})
    console.print(json.dumps({k: round(v["value"], 3) for k, v in off.items() if isinstance(v, dict)}, indent=None))
    console.print(f"report: {out / 'report.md'}  json: {out / 'report.json'}  plots: {', '.join(report['plots'])}")
