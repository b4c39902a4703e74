"""Every backend runs the one loop: equal records, failed episodes included (issue #13)."""

from __future__ import annotations

import pytest

from cotdiag.rollout import TIMING_KEYS, episode_plan, evaluate, run_episode
from cotdiag.testing import FailingExpertPolicy, make_failing

TASKS = ["task/0", "task/1", "task/2"]


def _records(out):
    import json

    rows = [json.loads(x) for x in (out / "episodes.jsonl").read_text().splitlines()]
    return sorted(({k: v for k, v in r.items() if k not in TIMING_KEYS} for r in rows), key=lambda r: r["episode"])


def test_run_episode_records_env_and_policy_errors():
    env = make_failing()
    ok = run_episode(env, FailingExpertPolicy(), "task/0", seed=0)
    assert ok["success"] and ok["error"] is None and ok["steps"] == 3
    reset_fail = run_episode(env, FailingExpertPolicy(), "task/1", seed=0)
    assert "task/1 failed to load" in reset_fail["error"] and reset_fail["steps"] == 0
    step_fail = run_episode(env, FailingExpertPolicy(), "task/2", seed=0)
    assert "died on task/2" in step_fail["error"] and step_fail["steps"] == 1 and not step_fail["success"]
    policy_fail = run_episode(env, FailingExpertPolicy(), "task/0", seed=3)
    assert "endpoint down" in policy_fail["error"] and policy_fail["actions"] == []
    assert run_episode(env, FailingExpertPolicy(), "task/0", seed=1)["success"]  # the env is still usable


@pytest.mark.parametrize("backend", ["vector", "ray"])
def test_backends_record_the_same_episodes(tmp_path, backend):
    kw = dict(episodes=7, seed=0, make_env=make_failing)
    local = evaluate("CoTDiagTest-Failing", FailingExpertPolicy(), tmp_path / "local", **kw)
    if backend == "ray":
        pytest.importorskip("ray")
        other = evaluate("CoTDiagTest-Failing", FailingExpertPolicy(), tmp_path / backend, backend="ray", num_workers=2, **kw)
    else:
        other = evaluate("CoTDiagTest-Failing", FailingExpertPolicy(), tmp_path / backend, num_envs=3, **kw)
    assert _records(tmp_path / "local") == _records(tmp_path / backend)
    plan = {p.index: p for p in episode_plan(TASKS, 7, 0)}
    for r in _records(tmp_path / "local"):
        broken = r["task_id"] != "task/0" or plan[r["episode"]].seed == 3
        assert (r["error"] is not None) == broken, r
    assert local["errors"] == other["errors"] > 0
