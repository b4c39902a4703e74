"""A diagnostic added from outside the package is run by diagnose, shown in the report and the
plots, and offered to the leaderboard (#24 item 1, docs/adding_a_diagnostic.md)."""

from __future__ import annotations

import json

import pytest

from cotdiag.diagnostics.common import proportion
from cotdiag.diagnostics.diagnostic import Diagnostic, LeaderboardColumn
from cotdiag.diagnostics.outputs import write_plots, write_report
from cotdiag.diagnostics.prefill import prompt_actions
from cotdiag.diagnostics.registry import register_diagnostic, registered, unregister_diagnostic
from cotdiag.diagnostics.report import build_report, fmt_num
from cotdiag.diagnostics.sweep import DiagnoseConfig, diagnose_policy
from cotdiag.error import InvalidConfigError
from tests.diagnostics.scripted import make_states
from tests.diagnostics.test_stages import CountingPolicy


def _run_toy(inp):
    """Share of states whose prompt action is longer than ``inp.options["min_chars"]`` characters."""
    acts = prompt_actions(inp.model, [s["prompt"] for s in inp.states])
    hits = [len(a) > inp.options["min_chars"] for a in acts]
    return {"toy/long_action": proportion(hits)}, [{"action": a, "long": h} for a, h in zip(acts, hits, strict=True)]


def _toy_md(cks):
    rows = [c for c in cks if c.get("toy")]
    return ["\n## Toy: long prompt actions\n"] + [f"- {c['name']}: {fmt_num(c['toy']['toy/long_action'])}" for c in rows] if rows else []


def _toy_plot(report, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.bar([c["name"] for c in report["checkpoints"]], [c["toy"]["toy/long_action"]["value"] for c in report["checkpoints"]])
    fig.savefig(path)
    plt.close(fig)
    return path


TOY = Diagnostic(
    "toy", _run_toy, planned=lambda inp: len(inp.states), options={"min_chars": 4}, markdown=_toy_md,
    plots=(("toy.png", _toy_plot),),
    columns=(LeaderboardColumn("toy/long_action", "toy_long", "long prompt actions (share)", "toy_long_ci95",
                               "long prompt actions 95% CI"),),
)


@pytest.fixture
def toy():
    register_diagnostic(TOY)
    yield TOY
    unregister_diagnostic("toy")


def test_toy_diagnostic_runs_and_reaches_report_plots_and_leaderboard(toy, tmp_path):
    from cotdiag.leaderboard.render import render
    from cotdiag.leaderboard.store import ResultStore
    from tests.leaderboard.test_store import cell, write_run

    assert [d.name for d in registered()][-1] == "toy"
    states = make_states(6)
    cfg = DiagnoseConfig(offline_states=6, conflict_states=0, attribution_examples=0, with_logprobs=False)
    lines: list[str] = []
    res = diagnose_policy(CountingPolicy(states), states, cfg, progress=lines.append)
    assert res["toy"]["toy/long_action"]["n"] == 6 and res["toy"]["toy/long_action"]["value"] == 1.0  # "act i"
    assert "toy: 6 model calls planned" in lines and len(res["records"]["toy"]) == 6
    other = diagnose_policy(CountingPolicy(states), states, cfg, options={"toy": {"min_chars": 10}})
    assert other["toy"]["toy/long_action"]["value"] == 0.0  # options reach the diagnostic

    report = build_report({"env_id": "E-v0", "split": "s", "model": "alpha"}, [{"name": "final", "step": None, **res}])
    out = tmp_path / "board" / "diagnose" / "alpha"
    write_report(report, [{"name": "final", **res}], out)
    report["plots"] = write_plots(report, out)
    write_report(report, [{"name": "final", **res}], out)
    assert "toy.png" in report["plots"] and (out / "toy.png").is_file()
    assert "## Toy: long prompt actions" in (out / "report.md").read_text()
    assert json.loads((out / "records" / "final.json").read_text())["toy"][0]["long"] is True

    board = tmp_path / "board"
    with ResultStore(board / "leaderboard.sqlite") as st:
        for mode in ("prompt", "cot"):
            write_run(board / "runs" / mode, 2)
            st.index_run(board / "runs" / mode, cell(mode, {"v": "1"}, policy="alpha"))
    md = render(board)["markdown"].read_text()
    assert "long prompt actions (share)" in md and "| 1.000 | [" in md


def test_names_are_unique_and_reserved_ones_refused(toy):
    with pytest.raises(InvalidConfigError, match="already registered"):
        register_diagnostic(TOY)
    with pytest.raises(InvalidConfigError, match="reserved"):
        register_diagnostic(Diagnostic("records", _run_toy))
