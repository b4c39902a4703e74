"""A first ``reset`` that raises leaves a ``gym.make``'d env usable (issue #12, item 16)."""

from __future__ import annotations

import json

import gymnasium as gym
import pytest

import cotdiag  # noqa: F401  (registers envs)
from cotdiag.agents import ExpertPolicy
from cotdiag.envs import register_text_env
from cotdiag.envs.checker import TextEnvChecker
from cotdiag.rollout import evaluate

FAILING_ID = "CoTDiagTest-FailingReset-v0"


register_text_env(FAILING_ID, "cotdiag.testing:FailingTextEnv", max_episode_steps=6)


def test_unknown_task_on_first_reset_leaves_bfcl_env_usable():
    env = gym.make("CoTDiag-BFCL-v0", split="in_domain")
    assert isinstance(env, TextEnvChecker)
    with pytest.raises(KeyError, match="nope"):
        env.reset(options={"task_id": "nope"})
    obs, info = env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step("[]")  # raised TypeError inside Gymnasium's checker
    assert isinstance(obs, str) and info["step"] == 1
    env.close()


def test_spec_rebuilds_the_same_wrapper_stack():
    env = gym.make(FAILING_ID)
    again = gym.make(env.spec)
    assert str(again) == str(env) and isinstance(again, TextEnvChecker)


def test_evaluate_records_the_failed_reset_and_plays_the_other_episodes(tmp_path):
    # seed 5: the first reset of the run is task/1
    summary = evaluate(FAILING_ID, ExpertPolicy(), tmp_path, episodes=6, seed=5)
    records = [json.loads(x) for x in (tmp_path / "episodes.jsonl").read_text().splitlines()]
    failed = [r for r in records if r["error"]]
    assert any(r["task_id"] == "task/1" and "failed to load" in r["error"] for r in failed)
    assert all(r["success"] for r in records if r["task_id"] == "task/0")
    assert summary["errors"] == len(failed) < 6
