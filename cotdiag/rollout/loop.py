"""The one episode loop: play planned episodes on a vector env, one record per episode.

Every backend runs :func:`play`: the local backend on a ``SyncVectorEnv`` of one env
(:func:`run_episode`), the vector backend on an ``AsyncVectorEnv`` of N processes
(:func:`vector_episodes`), the Ray backend on one env per actor (:mod:`cotdiag.rollout.ray` calls
:func:`run_episode`). Sub-envs are wrapped in :class:`~cotdiag.rollout.vector.EpisodePlanWrapper`,
so an env that raises is recorded like a policy that raises: the record's ``error`` holds the
traceback and the run goes on. For the same ``(task_id, seed)`` the records are equal on every
backend except their timings (:data:`cotdiag.rollout.recorder.TIMING_KEYS`).

An interrupted episode resumes mid-way when its policy has a ``replay(action)`` method (it advances
the policy's own state, e.g. a sampling seed counter, as if ``act`` had returned ``action``): ``play``
takes the episode's recorded steps (``resume``), resets the env with the episode's seed, and steps it
with the recorded actions, checking that each next observation hashes as recorded, before the
policy acts again. The env must be deterministic given its reset seed and actions (tested on
ALFWorld); a replay whose observation differs fails the episode with an ``error``, so that the next
resume plays it again from its reset.
"""

from __future__ import annotations

import copy
import logging
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from cotdiag.rollout.plan import PlannedEpisode
from cotdiag.rollout.recorder import EpisodeRecorder, observation_hash
from cotdiag.rollout.vector import make_planned_vec, planned_vec_of, unbatch_info

logger = logging.getLogger(__name__)


class _Slots:
    """The episodes in flight on the sub-envs of one vector env (``None``: the slot is free)."""

    def __init__(self, vec: gym.vector.VectorEnv, todo: Sequence[tuple[int, str, int]], policies: list[Any],
                 resume: Mapping[int, Sequence[dict[str, Any]]]) -> None:
        self.vec, self.policies, self.resume = vec, policies, resume
        self.n = vec.num_envs
        self.pending = deque(PlannedEpisode(*p) for p in todo)
        self.episode: list[int | None] = [None] * self.n
        self.rec: list[EpisodeRecorder | None] = [None] * self.n
        self.obs: list[Any] = [None] * self.n
        self.info: list[dict[str, Any]] = [{} for _ in range(self.n)]
        self.queue: list[deque[dict[str, Any]]] = [deque() for _ in range(self.n)]  # steps to replay

    def active(self) -> list[int]:
        return [k for k in range(self.n) if self.rec[k] is not None and not self.rec[k].done]

    def finished(self) -> list[int]:
        return [k for k in range(self.n) if self.rec[k] is not None and self.rec[k].done]

    def refill(self) -> None:
        """Start the next planned episodes on the free slots (one batched, masked ``reset``)."""
        free = [k for k in range(self.n) if self.rec[k] is None][: len(self.pending)]
        if not free:
            return
        seeds: list[int | None] = [None] * self.n
        mask = np.zeros(self.n, dtype=bool)
        plan = {}
        for k in free:
            ep = self.pending.popleft()
            seeds[k], plan[ep.seed], mask[k] = ep.seed, ep.task_id, True
            self.episode[k], self.rec[k] = ep.index, EpisodeRecorder(ep.task_id, ep.seed)
            self.policies[k].reset(seed=ep.seed)
            replayable = callable(getattr(self.policies[k], "replay", None))
            self.queue[k] = deque(self.resume.get(ep.index, ()) if replayable else ())
        obs, infos = self.vec.reset(seed=seeds, options={"task_plan": plan, "reset_mask": mask})
        for k in free:
            self.obs[k], self.info[k] = obs[k], unbatch_info(infos, k)
            self.rec[k].observe(self.info[k])

    def pop(self, k: int) -> tuple[int, dict[str, Any]]:
        """Free slot ``k``; return ``(episode_index, record)``."""
        index, rec = self.episode[k], self.rec[k]
        self.episode[k], self.rec[k] = None, None
        return index, rec.finish()


def _act(slots: _Slots, active: list[int]) -> list[Any]:
    """The actions of the active slots: one batched call when their policies allow it
    (:func:`cotdiag.agents.hf_batch.batchable`: greedy HF policies sharing a model), else one call per
    slot. A batched call that raises is retried slot by slot, so only the failing episode fails."""
    from cotdiag.agents.hf_batch import act_slots, batchable

    policies = [slots.policies[k] for k in active]
    if batchable(policies):
        t = time.perf_counter()
        try:
            actions = act_slots(policies, [slots.obs[k] for k in active], [slots.info[k] for k in active])
        except Exception:  # noqa: BLE001 - retried one by one below, where each failure is recorded
            logger.warning("batched generation failed; acting slot by slot", exc_info=True)
        else:
            share = (time.perf_counter() - t) / len(active)
            return [slots.rec[k].took(slots.policies[k], a, share) for k, a in zip(active, actions, strict=True)]
    return [slots.rec[k].act(slots.policies[k], slots.obs[k], slots.info[k]) for k in active]


def _replay(slots: _Slots, replaying: list[int]) -> tuple[list[Any], dict[int, str]]:
    """The recorded actions of the replaying slots and the observation hashes each must lead to."""
    actions, expected = [], {}
    for k in replaying:
        entry = slots.queue[k].popleft()
        slots.policies[k].replay(entry["action"])
        actions.append(slots.rec[k].replayed(entry))
        expected[k] = entry["obs_sha1"]
    return actions, expected


def play(
    vec: gym.vector.VectorEnv, todo: Sequence[tuple[int, str, int]], policies: list[Any], *,
    resume: Mapping[int, Sequence[dict[str, Any]]] | None = None,
    journal: Callable[[list[dict[str, Any]]], None] | None = None,
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Play ``todo`` on ``vec`` and yield ``(episode_index, record)`` as episodes end.

    Args:
        vec: a vector env whose sub-envs are wrapped in :class:`EpisodePlanWrapper` with
            ``autoreset_mode`` ``DISABLED`` (see :func:`~cotdiag.rollout.vector.make_planned_vec`).
        todo: ``[(episode_index, task_id, reset_seed), ...]`` (seeds unique).
        policies: one policy per sub-env (``len(policies) == vec.num_envs``); each is reset with
            the episode's seed before the episode.
        resume: ``{episode_index: [step entry, ...]}``, the recorded first steps of interrupted
            episodes (:attr:`cotdiag.rollout.EpisodeLog.in_flight`); replayed only for policies
            with a ``replay`` method (see the module docstring), others play from the reset.
        journal: called once per vector step with the new step entries of the acting slots
            (:meth:`cotdiag.rollout.EpisodeRecorder.entry`), e.g. :meth:`EpisodeLog.append_steps`.

    Yields:
        ``(episode_index, record)`` in the order episodes end (record keys:
        :mod:`cotdiag.rollout.recorder`).
    """
    slots = _Slots(vec, todo, policies, resume or {})
    while True:
        slots.refill()
        for k in slots.finished():  # the reset failed
            yield slots.pop(k)
        active = slots.active()
        if not active:
            if not slots.pending:
                return
            continue
        actions: list[Any] = [None] * slots.n  # None: an idle slot (absorbed by the wrapper)
        replaying = [k for k in active if slots.queue[k]]
        acting = [k for k in active if not slots.queue[k]]
        replayed, expected = _replay(slots, replaying)
        for k, action in zip(replaying + acting, replayed + (_act(slots, acting) if acting else []), strict=True):
            actions[k] = action
        for k in slots.finished():  # the policy raised: the episode ends before the step
            yield slots.pop(k)
        if all(a is None for a in actions):
            continue
        obs, rewards, terms, truncs, infos = vec.step(tuple(actions))
        entries = []
        for k in slots.active():
            slots.obs[k], slots.info[k] = obs[k], unbatch_info(infos, k)
            slots.rec[k].step(actions[k], rewards[k], terms[k], truncs[k], slots.info[k])
            if k not in expected:
                entries.append(slots.rec[k].entry(slots.episode[k], obs[k]))
            elif observation_hash(obs[k]) != expected[k]:
                slots.queue[k].clear()
                slots.rec[k].fail(f"replay diverged at step {slots.rec[k].steps - 1}: the observation differs "
                                  "from the recorded one; the next resume plays the episode from its reset")
        if journal is not None:
            journal(entries)
        for k in slots.finished():
            yield slots.pop(k)


def run_episode(env: gym.Env, policy: Any, task_id: str, seed: int) -> dict[str, Any]:
    """Play one episode of ``task_id`` on ``env`` with ``reset(seed=seed)`` and return its record.

    ``env`` is used in place (a ``SyncVectorEnv`` of this one env, which is not closed); the
    record's keys are those of :mod:`cotdiag.rollout.recorder`. An exception of the policy or the
    env is recorded in ``error``, never raised (``KeyboardInterrupt`` is raised).
    """
    return next(play(planned_vec_of(env), [(0, task_id, seed)], [policy]))[1]


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
    resume: Mapping[int, Sequence[dict[str, Any]]] | None = None,
    journal: Callable[[list[dict[str, Any]]], None] | None = None,
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Play the planned episodes on ``num_envs`` sub-envs; yield ``(episode_index, record)`` as they end.

    Each slot plays with its own shallow copy of ``policy`` (``copy.copy``: model weights are
    shared, and ``policy.reset(seed=...)`` rebinds the per-episode state such as a random
    generator, as :class:`cotdiag.agents.RandomPolicy` does).

    Args:
        todo: ``[(episode_index, task_id, reset_seed), ...]`` (seeds unique).
        policy: a :class:`cotdiag.agents.Policy`.
        env_id, env_kwargs, max_episode_steps, make_env: as in :func:`cotdiag.rollout.evaluate`.
        num_envs: number of sub-envs (never more than episodes).
        vectorization_mode: ``"async"`` (one process per env) or ``"sync"``.
        resume, journal: as in :func:`play`.
    """
    if not todo:
        return
    n = min(num_envs, len(todo))
    vec = make_planned_vec(env_id, n, make_env=make_env, vectorization_mode=vectorization_mode,
                           max_episode_steps=max_episode_steps, **dict(env_kwargs or {}))
    try:
        yield from play(vec, todo, [copy.copy(policy) for _ in range(n)], resume=resume, journal=journal)
    finally:
        vec.close()
