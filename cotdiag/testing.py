"""Checkers shipped for environment authors (like ``pettingzoo.test``).

:func:`check_text_env` runs Gymnasium's ``check_env`` and CoTDiag's own contract checks on any
text env: the ``info`` contract, seeded determinism, and an expert replay.
:class:`ScriptedTextEnv` is a three-step scripted env (Gymnasium's ``GenericTestEnv`` pattern) for
testing wrappers, policies and trainers without a simulator.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
from gymnasium.utils.env_checker import check_env

from cotdiag.envs.base import TaskSpec, TextEnv, Transition
from cotdiag.envs.info import missing_info_keys
from cotdiag.error import SimulatorError


class ContractError(AssertionError):
    """An environment breaks the CoTDiag contract (the message says which rule)."""


def check_info(info: dict[str, Any], *, where: str = "") -> None:
    """Check one ``info`` dict against :class:`cotdiag.envs.info.StepInfo`.

    Raises:
        ContractError: a key is missing or has the wrong type or range.
    """
    missing = missing_info_keys(info)
    if missing:
        raise ContractError(f"{where}info is missing keys {missing}")
    for key in ("task_id", "task_type", "split", "task"):
        if not isinstance(info[key], str):
            raise ContractError(f"{where}info[{key!r}] expected str, got {type(info[key]).__name__}")
    adm = info["admissible_actions"]
    if adm is not None and not (isinstance(adm, list) and all(isinstance(a, str) for a in adm)):
        raise ContractError(f"{where}info['admissible_actions'] expected list[str] or None")
    if info["expert_action"] is not None and not isinstance(info["expert_action"], str):
        raise ContractError(f"{where}info['expert_action'] expected str or None")
    for key in ("won", "invalid_action"):
        if not isinstance(info[key], bool):
            raise ContractError(f"{where}info[{key!r}] expected bool, got {type(info[key]).__name__}")
    if not isinstance(info["score"], float) or not 0.0 <= info["score"] <= 1.0:
        raise ContractError(f"{where}info['score'] expected float in [0, 1], got {info['score']!r}")
    if not isinstance(info["step"], int):
        raise ContractError(f"{where}info['step'] expected int")


def rollout(env: gym.Env, seed: int, actions: list[str] | None = None, max_steps: int = 20) -> list[tuple]:
    """Reset with ``seed`` and play ``actions`` (or the expert action, or the first admissible one).

    Returns:
        ``[(observation, reward, terminated, truncated, info_without_volatile_keys), ...]``
        starting with the reset pair as ``(observation, 0.0, False, False, info)``.
    """
    obs, info = env.reset(seed=seed)
    check_info(info, where="reset: ")
    trace = [(obs, 0.0, False, False, info)]
    for t in range(max_steps):
        if actions is not None:
            if t >= len(actions):
                break
            action = actions[t]
        else:
            action = info["expert_action"] or (info["admissible_actions"] or [""])[0]
        obs, r, term, trunc, info = env.step(action)
        check_info(info, where=f"step {t + 1}: ")
        trace.append((obs, float(r), bool(term), bool(trunc), info))
        if term or trunc:
            break
    return trace


#: Tasks tried (in ``task_ids`` order) to find one with an expert when the seeded task has none.
EXPERT_SEARCH_TASKS = 50


def check_text_env(env: gym.Env | str, *, seeds: tuple[int, ...] = (0, 1), expert_steps: int = 200,
                   check_expert: bool = True, skip_render_check: bool = True) -> None:
    """Check a CoTDiag text env.

    1. ``gymnasium.utils.env_checker.check_env`` (no warning suppressed by us);
    2. the ``info`` contract on reset and every step;
    3. determinism: two rollouts with the same seed give identical observations, rewards and infos;
    4. expert replay: following ``info["expert_action"]`` from ``reset(seed=seeds[0])`` wins within
       ``expert_steps`` steps (skipped when ``check_expert`` is False). A task may have no expert
       at all (BFCL's ``live_relevance`` has no ground truth): when the seeded task has no expert
       action at reset, the replay runs on the first of the first :data:`EXPERT_SEARCH_TASKS` tasks
       that has one; an expert that stops mid-episode is an error;
    5. task selection: ``env.unwrapped.task_ids`` (when the env has it, as every
       :class:`cotdiag.envs.TextEnv` does) is non-empty and ``reset(options={"task_id": t})`` plays
       task ``t`` (checked on the first and the last task).

    Args:
        env: the env, or a registered env id (made with ``gymnasium.make``).

    Raises:
        ContractError: a contract check fails (``check_env`` raises its own errors).

    Example:
        >>> check_text_env(make_scripted())  # passes silently; a broken contract raises ContractError
    """
    if isinstance(env, str):
        env = gym.make(env)
    check_env(env.unwrapped, skip_render_check=skip_render_check)
    task_ids = getattr(env.unwrapped, "task_ids", None)
    if task_ids is not None:
        if not task_ids:
            raise ContractError("env.unwrapped.task_ids is empty")
        for tid in {task_ids[0], task_ids[-1]}:
            _, info = env.reset(seed=seeds[0], options={"task_id": tid})
            check_info(info, where=f"reset(task_id={tid!r}): ")
            if info["task_id"] != tid:
                raise ContractError(f"reset(options={{'task_id': {tid!r}}}) played task {info['task_id']!r}")
    for seed in seeds:
        a = rollout(env, seed)
        b = rollout(env, seed)
        if [(o, r, te, tr) for o, r, te, tr, _ in a] != [(o, r, te, tr) for o, r, te, tr, _ in b]:
            raise ContractError(f"two rollouts with seed={seed} differ")
        if [i for *_, i in a] != [i for *_, i in b]:
            raise ContractError(f"two rollouts with seed={seed} give different infos")
    if check_expert:
        obs, info = env.reset(seed=seeds[0])
        if info["expert_action"] is None and task_ids:  # e.g. BFCL live_relevance: no ground truth
            for tid in task_ids[:EXPERT_SEARCH_TASKS]:
                obs, info = env.reset(seed=seeds[0], options={"task_id": tid})
                if info["expert_action"] is not None:
                    break
        for _ in range(expert_steps):
            if info["expert_action"] is None:
                raise ContractError(f"no expert action on task {info['task_id']} at step {info['step']}")
            obs, r, term, trunc, info = env.step(info["expert_action"])
            if term:
                break
        if not info["won"]:
            raise ContractError(f"the expert did not win task {info['task_id']} in {expert_steps} steps")


# --------------------------------------------------------------------------- scripted env
SOLUTION = ["open box", "take key from box", "unlock door with key"]
ADMISSIBLE = ["look", "inventory", "open box", "take key from box", "unlock door with key", "go to door"]


class ScriptedTextEnv(TextEnv):
    """Tasks (three by default) that all need ``SOLUTION`` in order; any other admissible action is a no-op.

    Observations state the progress (so the state is observable) and name the task id, the only
    thing that differs between tasks. ``expert_action`` is the next solution action;
    ``admissible_actions`` is ``ADMISSIBLE``; actions outside it are invalid (``Nothing happens.``).

    Args:
        split: ``"test"``.
        task_ids: the tasks (default ``task/0``, ``task/1``, ``task/2``), e.g. ``task/3`` ... to
            hold tasks out of training.
    """

    splits = ("test",)
    invalid_action_feedback = "Nothing happens."

    def __init__(self, split: str = "test", task_ids: tuple[str, ...] | list[str] | None = None, **kwargs) -> None:
        self._task_list = list(task_ids) if task_ids is not None else ["task/0", "task/1", "task/2"]
        super().__init__(split, **kwargs)
        self._progress = 0

    def _list_tasks(self) -> list[str]:
        return list(self._task_list)

    def _reset_task(self, task_id: str) -> tuple[TaskSpec, Transition]:
        self._progress = 0
        spec = TaskSpec(task_id=task_id, task_type="unlock_door", task="unlock the door.")
        obs = f"You are in a small room ({task_id}). There is a box and a locked door."
        return spec, self._tr(obs)

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
        return Transition(
            observation=obs, score=self._progress / len(SOLUTION), won=won, invalid_action=invalid,
            admissible_actions=list(ADMISSIBLE), expert_action=None if won else SOLUTION[self._progress],
        )


def make_scripted(max_episode_steps: int | None = 10, **kwargs: Any) -> gym.Env:
    """:class:`ScriptedTextEnv` wrapped in ``TimeLimit`` as ``gym.make`` would (``None``: unwrapped)."""
    env = ScriptedTextEnv(**kwargs)
    return gym.wrappers.TimeLimit(env, max_episode_steps) if max_episode_steps else env


class FailingTextEnv(ScriptedTextEnv):
    """:class:`ScriptedTextEnv` with broken tasks, to test how runs record env errors.

    ``task/1`` cannot be started (``reset`` raises :class:`~cotdiag.error.SimulatorError`) and
    ``task/2`` fails at its second step (``step`` raises it); ``task/0`` works.
    """

    def _reset_task(self, task_id: str) -> tuple[TaskSpec, Transition]:
        if task_id == "task/1":
            raise SimulatorError("task/1 failed to load")
        self._steps = 0
        return super()._reset_task(task_id)

    def _step_task(self, action: str) -> Transition:
        self._steps += 1
        if self._spec_task is not None and self._spec_task.task_id == "task/2" and self._steps == 2:
            raise SimulatorError("the simulator died on task/2")
        return super()._step_task(action)


def make_failing(max_episode_steps: int | None = 10, **kwargs: Any) -> gym.Env:
    """:class:`FailingTextEnv` in ``TimeLimit`` (a picklable ``make_env`` for every backend)."""
    env = FailingTextEnv(**kwargs)
    return gym.wrappers.TimeLimit(env, max_episode_steps) if max_episode_steps else env


class FailingExpertPolicy:
    """The expert (``info["expert_action"]``), except in episodes reset with a seed in ``fail_seeds``,
    where :meth:`act` raises ``ConnectionError`` (a dead endpoint); to test how runs record policy errors.

    Args:
        fail_seeds: the reset seeds of the episodes whose every ``act`` raises.
    """

    name = "failing-expert"

    def __init__(self, fail_seeds: tuple[int, ...] = (3,)) -> None:
        self.fail_seeds = tuple(fail_seeds)
        self.broken = False

    def reset(self, seed: int | None = None) -> None:
        """Start an episode (it fails when ``seed`` is in ``fail_seeds``)."""
        self.broken = seed in self.fail_seeds

    def act(self, observation: str, info: dict[str, Any]) -> str:
        """The expert action, or ``ConnectionError`` in a failing episode."""
        if self.broken:
            raise ConnectionError("endpoint down")
        return info["expert_action"]
