"""Vectorized rollouts with an explicit episode plan.

``gymnasium.make_vec("CoTDiag-ALFWorld-v0", num_envs=N, vectorization_mode="async")`` works as is
(text observations travel through shared memory, see :mod:`cotdiag.envs.spaces`). An evaluation
run, however, must play *given* ``(task_id, seed)`` pairs so that its episodes equal those of the
sequential run, and Gymnasium's vector ``reset`` passes one ``options`` dict to every sub-env.
:class:`EpisodePlanWrapper` solves this inside the vector API: each sub-env's ``reset`` looks its
task up by its own seed in ``options["task_plan"]`` (seeds are unique per episode in a run), and a
sub-env whose episode has ended absorbs further ``step`` calls (so idle slots can be stepped with the
others while ``autoreset_mode`` is ``DISABLED``).
"""

from __future__ import annotations

import copy
import logging
import time
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode

logger = logging.getLogger(__name__)


class EpisodePlanWrapper(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Reset to the task planned for this seed; ignore steps after the episode ended.

    ``reset(seed=s, options={"task_plan": {s: task_id, ...}, ...})`` calls the env's
    ``reset(seed=s, options={"task_id": task_id, ...})`` (other option keys are kept). After
    ``terminated`` or ``truncated``, ``step`` returns the final observation again with reward
    ``0.0``, the same flags and ``info["idle"] = True``, without touching the env.

    Raises:
        KeyError: ``options["task_plan"]`` has no entry for ``seed``.
    """

    def __init__(self, env: gym.Env) -> None:
        gym.utils.RecordConstructorArgs.__init__(self)
        gym.Wrapper.__init__(self, env)
        self._final: tuple[Any, bool, bool, dict[str, Any]] | None = None

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        """Reset, mapping ``options["task_plan"][seed]`` to ``options["task_id"]``."""
        options = dict(options or {})
        plan = options.pop("task_plan", None)
        if plan is not None:
            if seed not in plan:
                raise KeyError(f"options['task_plan'] has no task for seed {seed!r}")
            options["task_id"] = plan[seed]
        self._final = None
        obs, info = self.env.reset(seed=seed, options=options or None)
        return obs, dict(info, idle=False)

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        """Step the env, or repeat the final transition (reward 0) once the episode is over."""
        if self._final is not None:
            obs, term, trunc, info = self._final
            return obs, 0.0, term, trunc, dict(info, idle=True)
        obs, reward, term, trunc, info = self.env.step(action)
        info = dict(info, idle=False)
        if term or trunc:
            self._final = (obs, term, trunc, info)
        return obs, reward, term, trunc, info


def make_planned_vec(
    env_id: str,
    num_envs: int,
    *,
    make_env: Callable[..., gym.Env] | None = None,
    vectorization_mode: str = "async",
    max_episode_steps: int | None = None,
    **kwargs: Any,
) -> gym.vector.VectorEnv:
    """A vector env of ``num_envs`` copies, each wrapped in :class:`EpisodePlanWrapper`, autoreset off.

    Args:
        env_id: registered id (used when ``make_env`` is ``None``).
        num_envs: number of sub-envs (>= 1).
        make_env: ``make_env(**kwargs) -> env`` instead of ``gym.make(env_id, ...)``.
        vectorization_mode: ``"async"`` (one process per env) or ``"sync"``.
        max_episode_steps: overrides the registration's step limit.
        **kwargs: env constructor kwargs.

    Raises:
        ValueError: ``num_envs < 1`` or unknown ``vectorization_mode``.
    """
    if num_envs < 1:
        raise ValueError(f"expected num_envs >= 1, got {num_envs}")
    if vectorization_mode not in ("async", "sync"):
        raise ValueError(f"expected vectorization_mode in ['async', 'sync'], got {vectorization_mode!r}")
    vector_kwargs = {"autoreset_mode": AutoresetMode.DISABLED}
    if make_env is None:
        if max_episode_steps is not None:
            kwargs["max_episode_steps"] = max_episode_steps
        return gym.make_vec(env_id, num_envs=num_envs, vectorization_mode=vectorization_mode,
                            vector_kwargs=vector_kwargs, wrappers=[EpisodePlanWrapper], **kwargs)

    def thunk() -> gym.Env:
        return EpisodePlanWrapper(make_env(**kwargs))

    cls = gym.vector.AsyncVectorEnv if vectorization_mode == "async" else gym.vector.SyncVectorEnv
    return cls([thunk] * num_envs, **vector_kwargs)


def vector_episodes(
    todo: list[tuple[int, str, int]],
    policy: Any,
    *,
    env_id: str,
    num_envs: int,
    env_kwargs: dict[str, Any] | None = None,
    max_episode_steps: int | None = None,
    make_env: Callable[..., gym.Env] | None = None,
    vectorization_mode: str = "async",
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Play the planned episodes on ``num_envs`` sub-envs; yield ``(episode_index, record)`` as they end.

    The records have the keys of :func:`cotdiag.evaluate.run_episode` and, for the same
    ``(task_id, seed)``, the same content (only the timings differ): each sub-env is reset with the
    episode's seed and task, and each slot plays with its own shallow copy of ``policy``
    (``copy.copy``: model weights are shared, and ``policy.reset(seed=...)`` rebinds the per-episode
    state such as a random generator, as :class:`cotdiag.agents.RandomPolicy` does). Records are
    yielded in the order episodes finish; policy errors are recorded per episode, env errors raise.

    Args:
        todo: ``[(episode_index, task_id, reset_seed), ...]`` (seeds unique).
        policy: a :class:`cotdiag.agents.Policy`.
        env_id, env_kwargs, max_episode_steps, make_env: as in :func:`cotdiag.evaluate.evaluate`.
        num_envs: number of sub-envs (the last ones are simply not used when ``todo`` is shorter).
        vectorization_mode: ``"async"`` or ``"sync"``.
    """
    from cotdiag.evaluate import _add_step_stats

    if not todo:
        return
    n = min(num_envs, len(todo))
    vec = make_planned_vec(env_id, n, make_env=make_env, vectorization_mode=vectorization_mode,
                           max_episode_steps=max_episode_steps, **dict(env_kwargs or {}))
    pending = list(todo)
    slots: list[dict[str, Any] | None] = [None] * n
    policies = [copy.copy(policy) for _ in range(n)]
    obs: Any = None
    infos: list[dict[str, Any]] = [{} for _ in range(n)]

    def start(mask: np.ndarray) -> None:
        nonlocal obs
        seeds: list[int | None] = [None] * n
        plan = {}
        for k in np.flatnonzero(mask):
            i, task_id, ep_seed = pending.pop(0)
            seeds[k] = ep_seed
            plan[ep_seed] = task_id
            policies[k].reset(seed=ep_seed)
            slots[k] = {"t0": time.perf_counter(), "rec": {"task_id": task_id, "seed": ep_seed, "error": None},
                        "episode": i, "actions": [], "env_actions": [], "total": 0.0, "invalid": 0, "steps": 0, "truncated": False,
                        "policy_time": 0.0, "format_errors": 0, "stats": {}, "info": {}}
        o, inf = vec.reset(seed=seeds, options={"task_plan": plan, "reset_mask": mask})
        obs = tuple(o)
        for k in np.flatnonzero(mask):
            infos[k] = _unbatch(inf, k)

    def finish(k: int) -> tuple[int, dict[str, Any]]:
        s = slots[k]
        slots[k] = None
        info, rec = s["info"], s["rec"]
        rec.update(
            task_type=info.get("task_type", ""), success=bool(info.get("won", False)) and rec["error"] is None,
            score=float(info.get("score", 0.0)), steps=s["steps"], invalid_actions=s["invalid"],
            truncated=bool(s["truncated"]), actions=s["actions"], env_actions=s["env_actions"],
            wall_time_s=time.perf_counter() - s["t0"],
            policy_time_s=s["policy_time"], format_errors=s["format_errors"], step_stats=s["stats"],
        )
        rec["return"] = s["total"]
        return s["episode"], rec

    try:
        start(np.ones(n, dtype=bool))
        while any(s is not None for s in slots):
            actions = []
            for k in range(n):
                s, action = slots[k], ""
                if s is not None:
                    t_act = time.perf_counter()
                    try:
                        action = policies[k].act(obs[k], infos[k])
                    except Exception:  # recorded outcome, like run_episode
                        s["rec"]["error"] = traceback.format_exc(limit=5)
                        logger.warning("episode on %s failed:\n%s", s["rec"]["task_id"], s["rec"]["error"])
                    s["policy_time"] += time.perf_counter() - t_act
                    _add_step_stats(s["stats"], policies[k])
                actions.append(action)
            done_now = np.zeros(n, dtype=bool)
            for k in range(n):
                if slots[k] is not None and slots[k]["rec"]["error"] is not None:
                    done_now[k] = True
            if done_now.any():  # failed episodes end before the step, as in run_episode
                for k in np.flatnonzero(done_now):
                    slots[k]["info"] = infos[k]
                    yield finish(int(k))
            o, rewards, terms, truncs, inf = vec.step(tuple(actions))
            obs = tuple(o)
            restart = np.zeros(n, dtype=bool)
            for k in range(n):
                s = slots[k]
                if s is None:
                    continue
                infos[k] = info = _unbatch(inf, k)
                s["actions"].append(actions[k])
                s["env_actions"].append(info.get("action", actions[k]))
                s["total"] += float(rewards[k])
                s["steps"] += 1
                s["invalid"] += int(bool(info.get("invalid_action", False)))
                s["format_errors"] += int(info.get("parse_status", "ok") != "ok")
                _add_step_stats(s["stats"], info)
                s["truncated"], s["info"] = bool(truncs[k]), info
                if terms[k] or truncs[k]:
                    yield finish(k)
                    restart[k] = bool(pending)
            free = np.array([s is None for s in slots]) & ~restart
            if pending and free.any():
                restart |= free
            if restart.any():
                k_max = np.flatnonzero(restart)[: len(pending)]
                mask = np.zeros(n, dtype=bool)
                mask[k_max] = True
                start(mask)
    finally:
        vec.close()


def _unbatch(infos: dict[str, Any], k: int) -> dict[str, Any]:
    """The info dict of sub-env ``k`` from Gymnasium's batched info (keys ``x`` and mask ``_x``)."""
    out = {}
    for key, value in infos.items():
        if key.startswith("_"):
            continue
        mask = infos.get(f"_{key}")
        if mask is not None and not mask[k]:
            continue
        out[key] = _unbatch(value, k) if isinstance(value, dict) else _item(value[k])
    return out


def _item(x: Any) -> Any:
    """numpy scalars to Python scalars (records are JSON)."""
    return x.item() if isinstance(x, np.generic) else x
