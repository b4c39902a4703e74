"""The SQLite index: no duplicates, no mixing of environment versions."""

from __future__ import annotations

import json

from cotdiag.leaderboard.render import leaderboard_rows
from cotdiag.leaderboard.store import ResultStore, env_versions, versions_hash


def write_run(run_dir, n, *, success=True, steps=3, tokens=None):
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / "episodes.jsonl", "w") as f:
        for i in range(n):
            stats = {} if tokens is None else {"stats/tokens": tokens * steps}
            f.write(json.dumps({"episode": i, "seed": i, "task_id": f"t{i}", "success": success, "score": float(success),
                                "steps": steps, "invalid_actions": 0, "format_errors": 1, "step_stats": stats,
                                "policy_time_s": 0.003 * steps, "wall_time_s": 0.1, "error": None}) + "\n")


def cell(mode, versions, **kw):
    return {"policy": "p", "env_id": "E-v0", "split": "s", "domain": "id", "mode": mode, "suite": "t@v1",
            "versions": versions, "config_hash": "c0", **kw}


def test_index_is_idempotent_and_resumes(tmp_path):
    write_run(tmp_path / "r", 3)
    with ResultStore(tmp_path / "db.sqlite") as st:
        assert st.index_run(tmp_path / "r", cell("cot", {"a": "1"})) == 3
        assert st.index_run(tmp_path / "r", cell("cot", {"a": "1"})) == 0
        # A killed run: a half-written last line is skipped, the rest indexed once.
        with open(tmp_path / "r" / "episodes.jsonl", "a") as f:
            f.write('{"episode": 3, "se')
        assert st.index_run(tmp_path / "r", cell("cot", {"a": "1"})) == 0
        write_run(tmp_path / "r", 5)
        assert st.index_run(tmp_path / "r", cell("cot", {"a": "1"})) == 2
        assert len(st.episodes()) == 5


def test_versions_never_mix(tmp_path):
    write_run(tmp_path / "old", 2, success=False)
    write_run(tmp_path / "new", 2, success=True)
    with ResultStore(tmp_path / "db.sqlite") as st:
        st.index_run(tmp_path / "old", cell("cot", {"alfworld": "0.4.1"}))
        st.index_run(tmp_path / "new", cell("cot", {"alfworld": "0.4.2"}))
        cells = st.cells()
    assert len(cells) == 2
    assert sorted(c["successes"] for c in cells) == [0, 2]
    assert {c["versions_hash"] for c in cells} == {versions_hash({"alfworld": "0.4.1"}), versions_hash({"alfworld": "0.4.2"})}


def test_rows_metrics(tmp_path):
    write_run(tmp_path / "p", 4, success=False, steps=2, tokens=10)
    write_run(tmp_path / "c", 4, success=True, steps=2, tokens=30)
    with ResultStore(tmp_path / "db.sqlite") as st:
        st.index_run(tmp_path / "p", cell("prompt", {"x": "1"}))
        st.index_run(tmp_path / "c", cell("cot", {"x": "1"}))
        (row,) = leaderboard_rows(st.cells())
    assert row["prompt_success_pct"] == 0.0 and row["cot_success_pct"] == 100.0
    assert row["cot_advantage_pp"] == 100.0
    assert row["invalid_format_pct"] == 50.0  # 1 format error per 2-step episode
    assert row["tokens_per_step"] == 20.0
    assert abs(row["latency_ms_per_step"] - 3.0) < 1e-9
    assert row["revision_rate_pct"] is None


def test_env_versions_names_the_simulators():
    v = env_versions()
    assert {"alfworld", "scienceworld", "bfcl-eval", "cotdiag"} <= set(v)
    assert v["cotdiag"] is not None


def test_revision_rate_shows_the_steps_it_divides_by(tmp_path):
    write_run(tmp_path / "p", 2)
    write_run(tmp_path / "c", 2)
    lines = [json.loads(ln) for ln in (tmp_path / "c" / "episodes.jsonl").read_text().splitlines()]
    for rec in lines:
        rec["step_stats"] = {"stats/revised": 1}
    (tmp_path / "c" / "episodes.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    with ResultStore(tmp_path / "db.sqlite") as st:
        st.index_run(tmp_path / "p", cell("prompt", {"x": "1"}))
        st.index_run(tmp_path / "c", cell("cot", {"x": "1"}))
        (row,) = leaderboard_rows(st.cells())
    assert row["revision_steps"] == 6 and abs(row["revision_rate_pct"] - 100 * 2 / 6) < 1e-9
