"""Fixtures for the baseline tests: the scripted env and a micro model trained on its texts."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import pytest
import torch

from cotdiag.baselines.tiny import MICRO_CONFIG, make_tiny_default
from cotdiag.envs.base import TaskSpec, TextEnv, Transition
from cotdiag.wrappers.format import DEFAULT_FORMAT

# Tiny models are latency-bound: one thread avoids oversubscription on small shared CPUs.
torch.set_num_threads(1)

SOLUTION = ["open box", "take key from box", "unlock door with key"]
ADMISSIBLE = ["look", "inventory", "open box", "take key from box", "unlock door with key", "go to door"]


class ScriptedTextEnv(TextEnv):
    """Three tasks that all need ``SOLUTION`` in order; other admissible actions are no-ops."""

    splits = ("test",)

    def __init__(self, split: str = "test", **kwargs) -> None:
        super().__init__(split, **kwargs)
        self._progress = 0

    def _list_tasks(self) -> list[str]:
        return ["task/0", "task/1", "task/2"]

    def _reset_task(self, task_id: str) -> tuple[TaskSpec, Transition]:
        self._progress = 0
        spec = TaskSpec(task_id=task_id, task_type="unlock_door", task="unlock the door.")
        return spec, self._tr(f"You are in a small room ({task_id}). There is a box and a locked door.")

    def _step_task(self, action: str) -> Transition:
        action = action.strip()
        if action not in ADMISSIBLE:
            return self._tr("Nothing happens.", invalid=True)
        if self._progress < len(SOLUTION) and action == SOLUTION[self._progress]:
            self._progress += 1
            return self._tr(f"You {action}. Step {self._progress} done.")
        return self._tr(f"You {action}. Nothing changes; {self._progress} steps done.")

    def _tr(self, obs: str, invalid: bool = False) -> Transition:
        won = self._progress == len(SOLUTION)
        return Transition(observation=obs, score=self._progress / len(SOLUTION), won=won, invalid_action=invalid,
                          admissible_actions=list(ADMISSIBLE),
                          expert_action=None if won else SOLUTION[self._progress])


def make_scripted(max_episode_steps: int | None = 10, **kwargs) -> gym.Env:
    env = ScriptedTextEnv(**kwargs)
    return gym.wrappers.TimeLimit(env, max_episode_steps) if max_episode_steps else env


def trace_fn(state: dict) -> str:
    return f"The task needs me to {state['action']} next."


@pytest.fixture(scope="session")
def scripted_dataset():
    from cotdiag.baselines.data import build_dataset

    return build_dataset("scripted", episodes=3, traces=trace_fn, make_env=lambda **kw: make_scripted(**kw))


@pytest.fixture(scope="session")
def micro_model(tmp_path_factory, scripted_dataset) -> Path:
    texts = []
    for ex in scripted_dataset:
        texts += [ex["prompt"], ex["prompt_for_prompt_mode"], DEFAULT_FORMAT.cot_response(ex["trace"], ex["action"])]
    return make_tiny_default(texts * 5, tmp_path_factory.mktemp("micro"), MICRO_CONFIG)


@pytest.fixture(scope="session")
def sft_micro(tmp_path_factory, scripted_dataset, micro_model) -> Path:
    """The micro model after a short SFT on the scripted dataset (it emits parseable responses)."""
    from cotdiag.baselines.sft import ActionMaskSFTConfig, train_sft

    out = tmp_path_factory.mktemp("sft_micro")
    cfg = ActionMaskSFTConfig(output_dir=str(out), max_steps=40, per_device_train_batch_size=9, learning_rate=5e-3,
                              save_strategy="no", disable_tqdm=True, dataloader_num_workers=0, logging_steps=10)
    train_sft(scripted_dataset, str(micro_model), cfg)
    return out
