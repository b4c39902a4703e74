"""SB3 baseline: PPO over the admissible-actions wrapper beats the random policy on the scripted env."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from cotdiag.agents.random import RandomPolicy
from cotdiag.agents.registry import make_policy
from cotdiag.baselines.sb3 import SB3Config, train_sb3

from .conftest import make_scripted


def _success_rate(policy, episodes: int = 30) -> float:
    env = make_scripted(max_episode_steps=6)
    wins = 0
    for ep in range(episodes):
        policy.reset(seed=ep)
        obs, info = env.reset(seed=ep)
        done = False
        while not done:
            obs, _r, term, trunc, info = env.step(policy.act(obs, info))
            done = term or trunc
        wins += int(info["won"])
    return wins / episodes


def test_ppo_beats_random(tmp_path):
    cfg = SB3Config(total_timesteps=8192, max_actions=8, dim=64, hidden=32, n_steps=512, batch_size=128,
                    learning_rate=1e-3, seed=0)
    res = train_sb3("scripted", cfg, tmp_path / "ppo", make_env=lambda: make_scripted(max_episode_steps=6))
    assert res["timesteps"] >= 8192
    ppo = make_policy(f"sb3:{res['path']}")
    ppo_rate, random_rate = _success_rate(ppo), _success_rate(RandomPolicy(seed=0))
    assert ppo_rate > random_rate + 0.3, (ppo_rate, random_rate)


def test_wrapper_passes_sb3_check_env():
    from stable_baselines3.common.env_checker import check_env

    from cotdiag.wrappers.admissible import AdmissibleActionWrapper

    env = AdmissibleActionWrapper(make_scripted(), max_actions=8, dim=64)
    check_env(env)
    obs, _ = env.reset(seed=0)
    assert isinstance(env.observation_space, gym.spaces.Dict) and obs["action_mask"].dtype == np.int8


def test_short_run_trains_exactly_its_timesteps(tmp_path):
    cfg = SB3Config(total_timesteps=100, max_actions=8, dim=64, hidden=32, seed=0)  # n_steps 256 by default
    res = train_sb3("scripted", cfg, tmp_path / "ppo", make_env=lambda: make_scripted(max_episode_steps=6))
    assert res["timesteps"] == 100
