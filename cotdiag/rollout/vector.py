"""Vector envs that play a given episode plan: what every rollout backend steps.

``gymnasium.make_vec("CoTDiag-ALFWorld-v0", num_envs=N, vectorization_mode="async")`` works as is
(text observations travel through shared memory, see :mod:`cotdiag.envs.spaces`). A run, however,
must play *given* ``(task_id, seed)`` pairs so that its episodes are the same on every backend, and
Gymnasium's vector ``reset`` passes one ``options`` dict to every sub-env.
:class:`EpisodePlanWrapper` solves this inside the vector API: each sub-env's ``reset`` looks its
task up by its own seed in ``options["task_plan"]`` (seeds are unique per episode in a run); a
sub-env whose episode has ended, or that is stepped with ``None``, absorbs the step (so idle slots
can be stepped with the others while ``autoreset_mode`` is ``DISABLED``); and an exception of the
env becomes ``info["error"]`` on a final transition, so one failing episode neither kills an
``AsyncVectorEnv`` worker nor stops the others.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode

from cotdiag.error import InvalidConfigError

logger = logging.getLogger(__name__)


class EpisodePlanWrapper(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Reset to the task planned for this seed; absorb idle steps; turn env errors into ``info``.

    ``reset(seed=s, options={"task_plan": {s: task_id, ...}, ...})`` calls the env's
    ``reset(seed=s, options={"task_id": task_id, ...})`` (other option keys are kept). After
    ``terminated`` or ``truncated``, or when stepped with ``None``, ``step`` returns the final
    observation again with reward ``0.0``, ``terminated=True`` and ``info["idle"] = True``, without
    touching the env. When the env's ``reset`` or ``step`` raises, the transition is final
    (``terminated=True``, observation ``""``) and ``info["error"]`` holds the traceback text
    (5 frames); the next ``reset`` tries again.

    Raises:
        cotdiag.error.InvalidConfigError: ``options["task_plan"]`` has no entry for ``seed``.
    """

    def __init__(self, env: gym.Env) -> None:
        gym.utils.RecordConstructorArgs.__init__(self)
        gym.Wrapper.__init__(self, env)
        self._final: tuple[Any, bool, bool, dict[str, Any]] | None = None
        self._final_obs: Any = ""

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        """Reset, mapping ``options["task_plan"][seed]`` to ``options["task_id"]``."""
        options = dict(options or {})
        plan = options.pop("task_plan", None)
        if plan is not None:
            if seed not in plan:
                raise InvalidConfigError(f"options['task_plan'] has no task for seed {seed!r}")
            options["task_id"] = plan[seed]
        self._final = None
        try:
            obs, info = self.env.reset(seed=seed, options=options or None)
        except Exception:  # recorded by the rollout as a failed episode
            self._final = ("", True, False, {})
            return "", {"error": traceback.format_exc(limit=5), "idle": False}
        self._final_obs = obs
        return obs, dict(info, idle=False)

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        """Step the env, or repeat the final transition (reward 0) when idle or over."""
        if action is None and self._final is None:
            self._final = (self._final_obs, True, False, {})
        if self._final is not None:
            obs, term, trunc, info = self._final
            return obs, 0.0, term, trunc, dict(info, idle=True)
        try:
            obs, reward, term, trunc, info = self.env.step(action)
        except Exception:  # recorded by the rollout as a failed episode
            self._final = ("", True, False, {})
            return "", 0.0, True, False, {"error": traceback.format_exc(limit=5), "idle": False}
        info = dict(info, idle=False)
        self._final_obs = obs
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
        cotdiag.error.InvalidConfigError: ``num_envs < 1`` or unknown ``vectorization_mode``.
    """
    if num_envs < 1:
        raise InvalidConfigError(f"expected num_envs >= 1, got {num_envs}")
    if vectorization_mode not in ("async", "sync"):
        raise InvalidConfigError(f"expected vectorization_mode in ['async', 'sync'], got {vectorization_mode!r}")
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


def planned_vec_of(env: gym.Env) -> gym.vector.VectorEnv:
    """``env`` itself as a one-slot ``SyncVectorEnv`` for :func:`cotdiag.rollout.loop.play` (the local backend).

    The env is used in place, wrapped in :class:`EpisodePlanWrapper` with autoreset off; closing
    the returned vector env would close ``env``, so callers that own ``env`` just drop it.
    """
    return gym.vector.SyncVectorEnv([lambda: EpisodePlanWrapper(env)], autoreset_mode=AutoresetMode.DISABLED)


def unbatch_info(infos: dict[str, Any], k: int) -> dict[str, Any]:
    """The info dict of sub-env ``k`` from Gymnasium's batched info (keys ``x`` and mask ``_x``)."""
    out = {}
    for key, value in infos.items():
        if key.startswith("_"):
            continue
        mask = infos.get(f"_{key}")
        if mask is not None and not mask[k]:
            continue
        out[key] = unbatch_info(value, k) if isinstance(value, dict) else _item(value[k])
    return out


def _item(x: Any) -> Any:
    """numpy scalars to Python scalars (records are JSON)."""
    return x.item() if isinstance(x, np.generic) else x
