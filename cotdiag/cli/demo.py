"""``cotdiag demo`` / ``make demo``: the study at small scale on real ALFWorld games
(:mod:`cotdiag.pipelines.demo`), with its comparison table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from cotdiag.cli.app import app, make_console
from cotdiag.cli.options import OptionsCommand, command_options, options_from
from cotdiag.pipelines.demo import EVAL_SPLITS, DemoConfig

console = make_console()


def comparison_table(rows: list[dict[str, Any]]) -> Table:
    """One row per (policy, mode): success rate (95% CI) per split and the CoT advantage."""
    table = Table(title="CoTDiag demo: tiny Qwen2 on ALFWorld (success rate, Wilson 95% CI)")
    table.add_column("policy")
    table.add_column("mode")
    for split in EVAL_SPLITS:
        table.add_column(split, justify="right")
        table.add_column(f"{split} format err.", justify="right")
    for r in rows:
        cells = [r["policy"], r["mode"]]
        for split in EVAL_SPLITS:
            s = r[split]
            lo, hi = s["success_rate_ci95"]
            cells.append(f"{s['success_rate']:.2f} [{lo:.2f}, {hi:.2f}]")
            no_wrapper = r["mode"] == "-" or s.get("format_error_rate") is None
            cells.append("-" if no_wrapper else f"{s['format_error_rate']:.2f}")
        table.add_row(*cells)
    return table



@app.command(cls=OptionsCommand)
@command_options
@options_from(config=DemoConfig)
def demo(
    config: DemoConfig,
    out: Path = typer.Option(Path("runs/demo"), help="Where the demo writes its runs (stages resume)."),
) -> None:
    """The main job: the study at small scale on real ALFWorld games (see cotdiag.pipelines.demo).

    Expert data with CoT on train games, a tiny tokenizer and Qwen2 model, SFT with k=0 and k=0.3,
    evaluation in prompt and CoT mode on valid_seen and valid_unseen next to the random policy.
    Every field of DemoConfig is an option.
    """
    from cotdiag.cli.ui import RichUI
    from cotdiag.pipelines.demo import run_demo

    summary = run_demo(out, config, ui=RichUI(console))
    console.print(comparison_table(summary["results"]))
    for name, adv in summary["cot_advantage"].items():
        console.print(f"CoT advantage (online success, cot - prompt) for {name.removeprefix('SFT ')}: "
                      + ", ".join(f"{sp}: {v:+.2f}" for sp, v in adv.items()))
    console.print(f"total wall time {summary['wall_time_s'] / 60:.1f} min; summary: {out / 'demo_summary.json'}")
    for note in summary["notes"]:
        console.print(f"[yellow]note:[/yellow] {note}")
