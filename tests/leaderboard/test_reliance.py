"""The leaderboard's CoT reliance (AOC) column, fed by diagnose reports next to the index."""

from __future__ import annotations

import json

from cotdiag.leaderboard.render import leaderboard_rows, load_diagnostics, render, table_columns
from cotdiag.leaderboard.store import ResultStore
from tests.leaderboard.test_store import cell, write_run


def _board(tmp_path):
    with ResultStore(tmp_path / "leaderboard.sqlite") as st:
        for policy in ("alpha", "beta"):
            for mode in ("prompt", "cot"):
                d = tmp_path / "runs" / policy / mode
                write_run(d, 2)
                st.index_run(d, cell(mode, {"v": "1"}, policy=policy))
    rep = {"env_id": "E-v0", "split": "s", "checkpoints": [
        {"name": "checkpoint-1", "faithfulness": {"early/aoc": {"value": 0.1, "n": 5, "ci95": [0.0, 0.2]}}},
        {"name": "final", "faithfulness": {"early/aoc": {"value": 0.625, "n": 8, "ci95": [0.5, 0.75]}}},
    ]}
    (tmp_path / "diagnose" / "alpha").mkdir(parents=True)
    (tmp_path / "diagnose" / "alpha" / "report.json").write_text(json.dumps(rep))
    (tmp_path / "diagnose" / "broken").mkdir(parents=True)
    (tmp_path / "diagnose" / "broken" / "report.json").write_text("{not json")
    (tmp_path / "diagnose" / "beta").mkdir(parents=True)  # beta diagnosed on another split: no row to feed
    (tmp_path / "diagnose" / "beta" / "report.json").write_text(json.dumps({**rep, "split": "other"}))
    return tmp_path


def test_reliance_column_from_diagnose_reports(tmp_path):
    board = _board(tmp_path)
    rel = load_diagnostics(board)
    assert rel[("alpha", "E-v0", "s")] == {"cot_reliance_aoc": 0.625, "cot_reliance_ci95": "[0.500, 0.750] n=8"}  # last checkpoint
    with ResultStore(board / "leaderboard.sqlite") as st:
        rows = {r["policy"]: r for r in leaderboard_rows(st.cells(), rel)}
        assert rows["alpha"]["cot_reliance_aoc"] == 0.625
        assert rows["alpha"]["cot_reliance_ci95"] == "[0.500, 0.750] n=8"
        assert rows["beta"]["cot_reliance_aoc"] is None and rows["beta"]["cot_reliance_ci95"] is None
        assert all(r["cot_reliance_aoc"] is None for r in leaderboard_rows(st.cells()))
    paths = render(board)
    md = paths["markdown"].read_text()
    assert "CoT reliance (AOC)" in md and "| 0.625 | [0.500, 0.750] n=8 |" in md
    # reports that feed no row are named, not dropped silently (#19 item 18)
    assert "- diagnose report diagnose/broken/report.json ignored: unreadable (JSONDecodeError)" in md
    assert "- diagnose report diagnose/beta/report.json ignored: policy 'beta' on E-v0 other matches no row" in md
    html = paths["html"].read_text()
    assert "CoT reliance (AOC)" in html and 'data-value="0.625"' in html
    cols = [k for k, _, _ in table_columns()]
    assert cols.index("cot_reliance_aoc") + 1 == cols.index("cot_reliance_ci95")
