"""``cotdiag diagnose``: prompt-vs-CoT, faithfulness battery, conflicting-trace, attention and gradient diagnostics."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import typer

import cotdiag  # noqa: F401  (registers envs)
from cotdiag.cli.app import app, make_console
from cotdiag.cli.options import OptionsCommand, command_options, options_from
from cotdiag.diagnostics.sweep import DiagnoseConfig
from cotdiag.pipelines.diagnose import DiagnoseJob

console = make_console()
logger = logging.getLogger(__name__)


def _model_path(spec: str) -> str:
    kind, sep, arg = spec.partition(":")
    if sep and kind == "hf":
        return arg
    if sep and kind not in ("hf",) and not Path(spec).exists():
        raise typer.BadParameter(f"expected hf:PATH or a model folder, got {spec!r}")
    return spec


@app.command(cls=OptionsCommand)
@command_options
@options_from(aliases={"offline_states": ["--states"], "faithfulness_tests": ["--tests"]},
              job=DiagnoseJob, config=DiagnoseConfig)
def diagnose(job: DiagnoseJob, config: DiagnoseConfig) -> None:
    """Diagnose a model (or each checkpoint of a run): offline and online prompt-vs-CoT actions,
    the CoT faithfulness battery (--faithfulness_tests), conflicting-trace revision, attention and
    gradient mass. Writes OUT/report.json, OUT/report.md and PNG plots. Each finished stage is kept
    in OUT/stages/: rerun the same command after a kill and it resumes at the next stage. Every
    field of DiagnoseJob and DiagnoseConfig is an option (--states and --tests are the short names
    of --offline_states and --faithfulness_tests)."""
    from cotdiag.cli.ui import RichUI
    from cotdiag.pipelines.diagnose import run_diagnose

    if job.policy is None and job.checkpoints is None:
        raise typer.BadParameter("expected --policy hf:PATH and/or --checkpoints DIR")
    job = dataclasses.replace(job, policy=_model_path(job.policy) if job.policy is not None else None)
    cfg, out = config, job.out
    report = run_diagnose(job, cfg, ui=RichUI(console))
    off = report["checkpoints"][-1].get("offline", {})
    console.print(json.dumps({k: round(v["value"], 3) for k, v in off.items() if isinstance(v, dict)}, indent=None))
    console.print(f"report: {out / 'report.md'}  json: {out / 'report.json'}  plots: {', '.join(report['plots'])}")
