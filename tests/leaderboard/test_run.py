"""``cotdiag leaderboard run`` on the smoke suite (real ALFWorld games, expert and random)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from cotdiag.cli import app
from cotdiag.leaderboard import PolicyConfig, Suite, SuiteEntry, get_suite
from cotdiag.leaderboard.run import run_leaderboard
from cotdiag.leaderboard.store import ResultStore

POLICIES = '[[policies]]\nname = "expert"\nspec = "expert"\n[[policies]]\nname = "random"\nspec = "random"\n'


@pytest.mark.timeout(600)
def test_smoke_suite_cli_run_resume_and_show(tmp_path):
    (tmp_path / "p.toml").write_text(POLICIES)
    out = tmp_path / "board"
    args = ["leaderboard", "run", "--suite", "smoke", "--policies", str(tmp_path / "p.toml"), "--out", str(out)]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    status = json.loads((out / "status.json").read_text())
    assert {c["status"] for c in status["cells"]} == {"done"}
    assert len(status["cells"]) == 2 * 2 * 2  # policies x entries x modes
    with ResultStore(out / "leaderboard.sqlite") as st:
        eps = st.episodes()
    assert len(eps) == 8
    expert = [e for e in eps if e["policy"] == "expert"]
    assert all(e["format_errors"] == 0 and e["steps"] == 5 for e in expert)

    # Kill simulation: drop one cell's record (and half-write it), then resume: no loss, no duplicate.
    jsonl = next((out / "runs" / "random").rglob("episodes.jsonl"))
    jsonl.write_text('{"episode": 0, "seed"')
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    with ResultStore(out / "leaderboard.sqlite") as st:
        assert len(st.episodes()) == 8
    assert len(jsonl.read_text().splitlines()) == 1

    res = CliRunner().invoke(app, ["leaderboard", "show", str(out)])
    assert res.exit_code == 0, res.output
    md = (out / "leaderboard.md").read_text()
    assert md.count("| expert | CoTDiag-ALFWorld-v0 |") == 2 and "eval_ood_task_types" in md
    assert (out / "leaderboard.html").exists() and (out / "cot_advantage.png").exists()


def test_missing_env_split_and_policy_are_reported(tmp_path):
    suite = Suite("t", 1, (
        SuiteEntry("CoTDiag-NotYet-v0", "test", "ood", episodes=1, max_steps=2),
        SuiteEntry("CoTDiag-ALFWorld-v0", "no_such_split", "id", episodes=1, max_steps=2, modes=("cot",)),
    ))
    policies = [PolicyConfig("expert", "expert"), PolicyConfig("ghost", "nosuchkind:x")]
    statuses = run_leaderboard(suite, policies, tmp_path)
    assert {s.status for s in statuses} == {"skipped"}
    reasons = {(s.policy, s.env_id): s.reason for s in statuses}
    assert "not registered" in reasons[("expert", "CoTDiag-NotYet-v0")]
    assert "no split 'no_such_split'" in reasons[("expert", "CoTDiag-ALFWorld-v0")]
    assert "cannot be built" in reasons[("ghost", "CoTDiag-ALFWorld-v0")]


def test_default_suite_entries_resolve_or_are_explained():
    from cotdiag.leaderboard.run import check_entry

    for entry in get_suite("default").entries:
        reason = check_entry(entry)
        assert reason is None or "not registered" in reason or "cannot be imported" in reason, reason
