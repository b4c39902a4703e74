"""CoTDiag-ALFWorld-v0 on the real games in $ALFWORLD_DATA."""

from __future__ import annotations

import json
import warnings

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env

import cotdiag  # noqa: F401
from cotdiag.envs.alfworld.data import (
    OOD_TASK_TYPES,
    TASK_TYPES,
    list_games,
    split_dir,
    task_params_from_folder,
)
from cotdiag.error import DataNotFoundError, InvalidConfigError
from cotdiag.testing import check_info

ENV_ID = "CoTDiag-ALFWorld-v0"


@pytest.fixture(scope="module")
def env():
    e = gym.make(ENV_ID, split="valid_unseen")
    yield e
    e.close()


def play_expert(env, task_id: str, max_steps: int = 200) -> dict:
    obs, info = env.unwrapped.reset(seed=0, options={"task_id": task_id})
    for _ in range(max_steps):
        obs, r, term, trunc, info = env.unwrapped.step(info["expert_action"])
        if term:
            break
    return info


def test_check_env_passes_without_warnings(env):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped, skip_render_check=True)


def test_registration_step_limit_is_50():
    assert gym.spec(ENV_ID).max_episode_steps == 50
    assert gym.spec(ENV_ID).entry_point == "cotdiag.envs.alfworld:ALFWorldEnv"


def test_spaces_accept_any_text(env):
    assert env.action_space.contains("go to desk 1")
    assert env.observation_space.contains("Vous êtes dans la cuisine.\n\t☕")


def test_reset_contract_and_task_in_observation(env):
    obs, info = env.reset(seed=3)
    check_info(info)
    assert info["split"] == "valid_unseen"
    assert info["task"] and info["task"] in obs
    assert "Your task is to:" in obs
    assert info["step"] == 0 and info["score"] == 0.0 and not info["won"]
    assert info["expert_action"] == "look"
    assert "look" in info["admissible_actions"]
    assert info["task_type"] in TASK_TYPES


def test_same_seed_same_episode_different_seeds_cover_tasks(env):
    a = env.reset(seed=7)
    a_steps = [env.step(cmd)[0] for cmd in ("look", "inventory")]
    b = env.reset(seed=7)
    b_steps = [env.step(cmd)[0] for cmd in ("look", "inventory")]
    assert a[0] == b[0] and a[1] == b[1] and a_steps == b_steps
    tasks = {env.reset(seed=s)[1]["task_id"] for s in range(4)}
    assert len(tasks) >= 3


def test_named_task_and_unknown_task(env):
    tid = env.unwrapped.task_ids[3]
    assert env.reset(options={"task_id": tid})[1]["task_id"] == tid
    with pytest.raises(KeyError):
        env.reset(options={"task_id": "no-such-game"})


def test_expert_wins_each_task_type_across_splits():
    """Each task type once, the splits taken in turn: the fixed handcoded expert wins.

    The train games have no traj_data.json (task parameters derived from the folder name), and
    pick-two games exercise the move->put fix. Every game of every split: benchmarks/alfworld_expert.py.
    """
    splits = ("train", "valid_seen", "valid_unseen")
    envs = {s: gym.make(ENV_ID, split=s).unwrapped for s in splits}
    for i, ttype in enumerate(TASK_TYPES):
        e = envs[splits[i % 3]]
        tid = next(t for t in e.task_ids if t.startswith(ttype + "-"))
        info = play_expert(e, tid)
        assert info["won"], f"expert lost {e.split}/{tid}"
        assert info["score"] == 1.0
    for e in envs.values():
        e.close()


def test_step_reward_is_score_change_and_terminates(env):
    obs, info = env.reset(seed=11)
    total, term = 0.0, False
    while not term:
        obs, r, term, trunc, info = env.step(info["expert_action"])
        total += r
        assert not trunc
    assert info["won"] and total == pytest.approx(1.0)
    with pytest.raises(gym.error.ResetNeeded):
        env.unwrapped.step("look")


def test_time_limit_truncates():
    e = gym.make(ENV_ID, split="valid_unseen", max_episode_steps=3)
    e.reset(seed=0)
    outs = [e.step("inventory") for _ in range(3)]
    assert [o[3] for o in outs] == [False, False, True]
    assert not any(o[2] for o in outs)
    e.close()


@pytest.mark.parametrize(
    "action,invalid",
    [
        ("", True),
        ("x" * 102_400, True),
        ("aller à la cuisine ☕", True),
        ("look\x00\x07\x1b[31m", True),
        ("LOOK", True),  # the engine is case-sensitive
        ("  look \t", False),  # ... and strips surrounding whitespace
    ],
)
def test_bad_actions_are_recorded_not_raised(env, action, invalid):
    obs0, info0 = env.reset(seed=5)
    obs, r, term, trunc, info = env.step(action)
    check_info(info)
    assert info["invalid_action"] is invalid
    assert r == 0.0 and not term and info["step"] == 1
    if invalid:
        assert obs  # the simulator's (or the env's) feedback
        assert info["admissible_actions"] == info0["admissible_actions"]
    with pytest.raises(TypeError):
        env.step(123)  # not text: a programming error, raised


def test_derived_task_params_equal_traj_data_on_every_valid_game():
    n = 0
    for split in ("valid_seen", "valid_unseen"):
        for traj in split_dir(split).glob("*/*/traj_data.json"):
            data = json.loads(traj.read_text())
            derived = task_params_from_folder(traj.parent.parent.name)
            assert derived == {"task_type": data["task_type"], **data["pddl_params"]}, traj
            n += 1
    assert n == 274


def test_split_sizes_and_task_type_holdout():
    assert len(list_games("valid_seen")) == 140
    assert len(list_games("valid_unseen")) == 134
    train = list_games("train")
    train_id = list_games("train_id")
    ood = list_games("eval_ood_task_types")
    assert len(train) == 600
    assert {t.split("-")[0] for t in train_id}.isdisjoint(OOD_TASK_TYPES)
    assert {t.split("-")[0] for t in ood} == set(OOD_TASK_TYPES)
    assert len(train_id) == 400 and len(ood) == 21 + 17


def test_missing_data_names_the_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("ALFWORLD_DATA", str(tmp_path))
    with pytest.raises(DataNotFoundError, match="ALFWORLD_DATA") as exc:
        gym.make(ENV_ID, split="valid_seen")
    assert str(tmp_path) in str(exc.value) and "alfworld-download" in str(exc.value)
    with pytest.raises(InvalidConfigError, match="expected split"):
        gym.make(ENV_ID, split="nope")


def test_close_then_reset_works():
    e = gym.make(ENV_ID, split="valid_seen")
    e.reset(seed=0)
    e.close()
    obs, info = e.reset(seed=0)
    assert "Your task is to:" in obs
    e.close()


def test_fast_reset_matches_raw_reset():
    raw = gym.make(ENV_ID, split="valid_seen", fast_reset=False).unwrapped
    fast = gym.make(ENV_ID, split="valid_seen").unwrapped
    tid = raw.task_ids[0]

    def episode(e):
        obs, info = e.reset(seed=1, options={"task_id": tid})
        out = [(obs, info)]
        for _ in range(8):
            obs, r, term, trunc, info = e.step(info["expert_action"])
            out.append((obs, info))
            if term:
                break
        return out

    first = episode(fast)
    assert episode(fast) == first  # repeated (cached) reset
    assert episode(raw) == first
    raw.close()
    fast.close()


def test_switching_games_drops_previous_games_interned_facts():
    """Issue #12 item 15: TextWorld interns every fact in a global, never-evicted dict (~0.5-1 MB per
    distinct game). After games B..E, resetting game A again must leave no entry of B..E behind."""
    from mementos.core import _memento_cache

    from cotdiag.envs.alfworld.memory import interned_fact_count

    e = gym.make(ENV_ID, split="valid_unseen", expert=None).unwrapped
    ids = e.task_ids[::20][:5]  # five distinct games, spread over the task types
    e.reset(seed=0, options={"task_id": ids[0]})
    after_first = set(_memento_cache)
    for tid in ids[1:]:
        e.reset(seed=0, options={"task_id": tid})
    e.reset(seed=0, options={"task_id": ids[0]})
    assert set(_memento_cache) <= after_first
    e.close()
    assert interned_fact_count() == 0
