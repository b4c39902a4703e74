"""Vectorized rollouts: text through AsyncVectorEnv, and evaluate(num_envs=N) == sequential."""

from __future__ import annotations

import json

import gymnasium as gym
import pytest

from cotdiag.agents.random import RandomPolicy
from cotdiag.envs import register_text_env
from cotdiag.rollout import evaluate
from cotdiag.wrappers.decoding import DecodingModeWrapper

SCRIPTED_ID = "CoTDiagTest-Scripted-v0"
register_text_env(SCRIPTED_ID, "cotdiag.testing:ScriptedTextEnv", max_episode_steps=6)

UNICODE = "préchauffer le four ☕ \u0000 \U0001f916"


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_make_vec_text_observations(mode):
    vec = gym.make_vec(SCRIPTED_ID, num_envs=2, vectorization_mode=mode,
                       wrappers=[lambda e: DecodingModeWrapper(e, "prompt")])
    try:
        obs, info = vec.reset(seed=0)
        assert len(obs) == 2 and all("Current observation" in o for o in obs)
        obs, r, term, trunc, info = vec.step(("open box</action>", f"{UNICODE}</action>"))
        assert "Step 1 done" in obs[0] and "Nothing happens" in obs[1]
        assert list(info["parse_status"]) == ["ok", "ok"] and info["action"][1] == UNICODE.strip()
        first = obs[0]
        obs2, *_ = vec.step(("take key from box</action>", "look</action>"))
        assert first != obs2[0]  # the returned batch is a copy, not a live view
    finally:
        vec.close()


def _records(path):
    return sorted((json.loads(line) for line in open(path / "episodes.jsonl")), key=lambda r: r["episode"])


def test_evaluate_num_envs_matches_sequential(tmp_path):
    seq = evaluate(SCRIPTED_ID, RandomPolicy(seed=0), tmp_path / "seq", episodes=7, seed=3)
    vec = evaluate(SCRIPTED_ID, RandomPolicy(seed=0), tmp_path / "vec", episodes=7, seed=3, num_envs=3)
    assert {k: v for k, v in seq.items()} == vec
    drop = ("wall_time_s", "policy_time_s")
    a = [{k: v for k, v in r.items() if k not in drop} for r in _records(tmp_path / "seq")]
    b = [{k: v for k, v in r.items() if k not in drop} for r in _records(tmp_path / "vec")]
    assert a == b


def test_evaluate_num_envs_resumes(tmp_path):
    evaluate(SCRIPTED_ID, RandomPolicy(seed=0), tmp_path / "r", episodes=3, seed=1, num_envs=2)
    evaluate(SCRIPTED_ID, RandomPolicy(seed=0), tmp_path / "r", episodes=5, seed=1, num_envs=2)
    evaluate(SCRIPTED_ID, RandomPolicy(seed=0), tmp_path / "s", episodes=5, seed=1)
    drop = ("wall_time_s", "policy_time_s")
    assert [{k: v for k, v in r.items() if k not in drop} for r in _records(tmp_path / "r")] == [
        {k: v for k, v in r.items() if k not in drop} for r in _records(tmp_path / "s")]
