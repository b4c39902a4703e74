"""Run a policy on an environment split, record every episode, and summarize.

The entry point is :func:`evaluate`; ``cotdiag evaluate`` is a thin CLI over it. The episodes are
those of :func:`cotdiag.rollout.plan.episode_plan`, played by the one loop of
:mod:`cotdiag.rollout.loop` on the chosen backend and appended to a resumable
:class:`~cotdiag.rollout.episode_log.EpisodeLog`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from cotdiag.agents.base import Policy
from cotdiag.error import InvalidConfigError
from cotdiag.rollout.episode_log import EpisodeLog
from cotdiag.rollout.loop import play, vector_episodes
from cotdiag.rollout.plan import episode_plan
from cotdiag.rollout.vector import planned_vec_of
from cotdiag.stats import wilson_interval
from cotdiag.versions import ML_PACKAGES, SIMULATOR_PACKAGES, installed_versions

logger = logging.getLogger(__name__)

#: Where episodes run: in this process (``"local"``) or on Ray actors (``"ray"``).
BACKENDS: tuple[str, ...] = ("local", "ray")


def policy_settings(policy: Any) -> dict[str, Any] | None:
    """``policy.settings()`` when the policy has it (:meth:`cotdiag.agents.hf.HFPolicy.settings`: what
    changes its actions besides its name), else ``None``; a wrapper's inner policy is asked through
    its ``policy`` attribute."""
    for p in (policy, getattr(policy, "policy", None)):
        fn = getattr(p, "settings", None)
        if callable(fn):
            return fn()
    return None


def describe_factory(make_env: Callable[..., gym.Env] | None) -> dict[str, Any] | str | None:
    """What a run records of its env factory, so a resumed run can check it is the same.

    A dataclass factory (e.g. :class:`cotdiag.rollout.factory.DecodedEnvFactory`, which holds the decoding
    mode and the history window) is recorded field by field; another callable by its qualified
    name; ``None`` as ``None``.

    Example:
        >>> describe_factory(None) is None
        True
    """
    if make_env is None:
        return None
    if dataclasses.is_dataclass(make_env) and not isinstance(make_env, type):
        return {"factory": type(make_env).__qualname__, **dataclasses.asdict(make_env)}
    return getattr(make_env, "__qualname__", type(make_env).__qualname__)


def _ratio(num: float, den: float) -> float:
    return num / den if den else 0.0


def failure_classes(records: list[dict[str, Any]]) -> dict[str, int]:
    """``{class: episodes}`` of the failed episodes, most frequent first; the class of a failure is
    the last line of its traceback (``"ConnectionError: ... refused"``), or ``"unknown error"``."""
    counts: dict[str, int] = defaultdict(int)
    for r in records:
        err = r.get("error")
        if err is not None:
            lines = str(err).strip().splitlines()
            counts[lines[-1].strip() if lines else "unknown error"] += 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def summarize(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Aggregate episode records.

    Returns a dict with ``episodes``, ``success_rate`` (fraction of episodes won),
    ``success_rate_ci95`` (Wilson 95% interval, see :func:`cotdiag.stats.wilson_interval`),
    ``mean_score`` (mean final normalized score), ``mean_steps``, ``errors`` (episodes that failed:
    the policy or the env raised; the traceback is in the record), ``format_error_rate`` (steps
    whose response did not parse / steps; 0 without a decoding wrapper; each such step is rewarded
    with the decoding wrapper's penalty, -0.1 by default, so an episode's return can be e.g.
    ``-0.30000000000000004`` after three format errors: the sum of float penalties),
    ``invalid_action_rate`` (steps flagged ``info["invalid_action"]``: the env rejected the action,
    format errors included, / steps), ``failure_classes`` (``{last traceback line: failed
    episodes}``, most frequent first: one entry per kind of failure) and ``by_task_type`` (the same
    keys per task type, without ``failure_classes``).
    """

    def agg(rs: list[dict[str, Any]]) -> dict[str, Any]:
        n = len(rs)
        wins = sum(bool(r["success"]) for r in rs)
        return {
            "episodes": n,
            "success_rate": wins / n if n else 0.0,
            "success_rate_ci95": list(wilson_interval(wins, n)),
            "mean_score": float(np.mean([r["score"] for r in rs])) if n else 0.0,
            "mean_steps": float(np.mean([r["steps"] for r in rs])) if n else 0.0,
            "errors": sum(r.get("error") is not None for r in rs),
            "format_error_rate": _ratio(sum(r.get("format_errors", 0) for r in rs), sum(r["steps"] for r in rs)),
            "invalid_action_rate": _ratio(sum(r.get("invalid_actions", 0) for r in rs), sum(r["steps"] for r in rs)),
        }

    by_type: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        by_type[r.get("task_type", "")].append(r)
    out = agg(records)
    out["failure_classes"] = failure_classes(records)
    out["by_task_type"] = {k: agg(v) for k, v in sorted(by_type.items())}
    return out


def evaluate(
    env_id: str,
    policy: Policy,
    out_dir: str | Path,
    *,
    split: str | None = None,
    episodes: int = 10,
    seed: int = 0,
    env_kwargs: dict[str, Any] | None = None,
    max_episode_steps: int | None = None,
    make_env: Callable[..., gym.Env] | None = None,
    progress: Callable[[int, int], None] | None = None,
    backend: str = "local",
    ray_address: str | None = None,
    num_workers: int | None = None,
    num_envs: int = 1,
) -> dict[str, Any]:
    """Evaluate ``policy`` on ``episodes`` episodes of ``env_id`` and write ``out_dir``.

    Writes ``out_dir/config.json``, ``out_dir/episodes.jsonl`` (appended per finished episode) and
    ``out_dir/summary.json``. Re-running with the same arguments resumes: recorded episodes are
    skipped, missing ones are played, failed ones (a record with an ``error``) are played again
    (their old records move to ``out_dir/episodes.errors.jsonl``); asking for more episodes extends
    the run. With a policy that has a ``replay`` method (a greedy or seeded HF policy) and the
    ``local`` backend, the steps of episodes in flight go to ``out_dir/steps.jsonl`` too, and an
    episode a kill interrupted resumes from its last recorded step (replayed, see
    :mod:`cotdiag.rollout.loop`); the ``ray`` backend plays it again from its reset.

    Args:
        env_id: a registered Gymnasium id (``"CoTDiag-ALFWorld-v0"``, ...).
        policy: any :class:`cotdiag.agents.Policy`.
        split: passed to the env as ``split=`` (``None``: the env's default).
        episodes: number of episodes.
        seed: base seed (see module docstring).
        env_kwargs: extra constructor kwargs.
        max_episode_steps: overrides the registration's step limit.
        make_env: ``make_env(**kwargs) -> env`` instead of ``gym.make(env_id, ...)`` (wrapped envs).
        progress: called as ``progress(done, total)`` after each episode.
        backend: ``"local"`` (episodes in this process, one env) or ``"ray"`` (episodes on Ray
            actors, one env per actor; see :mod:`cotdiag.rollout.ray`). Records are identical
            (timings aside), failed episodes included.
        ray_address: Ray cluster address (``None``: start a local Ray instance); ``"ray"`` only.
        num_workers: number of Ray actors (``None``: one per available CPU); ``"ray"`` only.
        num_envs: ``"local"`` only: play ``num_envs`` episodes at a time on a Gymnasium
            ``AsyncVectorEnv`` (one process per env; see
            :func:`cotdiag.rollout.loop.vector_episodes`). Records equal the sequential run's.

    Returns:
        The summary dict (see :func:`summarize`) plus ``env_id``, ``split``, ``policy``.

    Raises:
        cotdiag.error.ResultsMismatchError: ``out_dir`` holds a run with another configuration: env,
            split, policy and its settings (:func:`policy_settings`), seed, env kwargs, step limit,
            decoding wrapper (mode, history, protocol) or package versions (simulators and ML stack).
        cotdiag.error.InvalidConfigError: ``backend`` is not ``"local"`` or ``"ray"``, or the env
            constructor does not take ``env_kwargs``.
    """
    if backend not in BACKENDS:
        raise InvalidConfigError(f"expected backend in {list(BACKENDS)}, got {backend!r}")
    if not isinstance(num_envs, int) or num_envs < 1:
        raise InvalidConfigError(f"expected num_envs to be an int >= 1, got {num_envs!r}")

    kwargs = dict(env_kwargs or {})
    if split is not None:
        kwargs["split"] = split
    config = {
        "env_id": env_id,
        "split": split,
        "policy": getattr(policy, "name", type(policy).__name__),
        "policy_settings": policy_settings(policy),
        "seed": seed,
        "episodes": episodes,
        "env_kwargs": {k: v for k, v in kwargs.items() if k != "split"},
        "max_episode_steps": max_episode_steps,
        "make_env": describe_factory(make_env),
        "versions": installed_versions(dict.fromkeys((*SIMULATOR_PACKAGES, *ML_PACKAGES))),
    }
    log = EpisodeLog(out_dir, config, resumable_keys=("episodes",))
    log.retry_errors()  # a failed episode (dead endpoint, crashed simulator) runs again on resume
    factory = make_env or (lambda **kw: gym.make(env_id, max_episode_steps=max_episode_steps, **kw))
    try:
        env = factory(**kwargs)
    except TypeError as e:  # an env kwarg the constructor does not take (--env_kwarg bogus=1)
        raise InvalidConfigError(f"cannot make {env_id} with kwargs {kwargs}: {e}") from e
    try:
        plan = episode_plan(list(env.unwrapped.task_ids), episodes, seed)
        todo = [p for p in plan if not log.done(p[0])]
        if len(todo) < len(plan):
            logger.info("resuming %s: %d of %d episodes done", out_dir, len(plan) - len(todo), len(plan))
        steps: dict[str, Any] = {}
        if callable(getattr(policy, "replay", None)):  # interrupted episodes resume mid-way
            steps = {"resume": log.in_flight, "journal": log.append_steps}
            if log.in_flight:
                logger.info("replaying the recorded steps of %d interrupted episode(s)", len(log.in_flight))
        if backend == "ray":  # one simulator per Ray actor, reused (cotdiag.rollout.ray)
            from cotdiag.rollout.ray import ray_episodes

            env.close()
            results = ray_episodes(
                todo, policy, env_id=env_id, env_kwargs=kwargs, max_episode_steps=max_episode_steps,
                make_env=make_env, address=ray_address, num_workers=num_workers,
            )
        elif num_envs > 1:  # one simulator per process, Gymnasium's AsyncVectorEnv
            env.close()
            results = vector_episodes(
                todo, policy, env_id=env_id, num_envs=num_envs, env_kwargs=kwargs,
                max_episode_steps=max_episode_steps, make_env=make_env, **steps,
            )
        else:  # this process, this env: a SyncVectorEnv of one
            results = play(planned_vec_of(env), todo, [policy], **steps)
        for i, rec in results:
            rec.update(episode=i, env_id=env_id, split=split, policy=config["policy"])
            log.append(rec)
            if progress:
                progress(len(log.records), episodes)
    finally:
        env.close()
    records = [r for r in log.sorted_records() if r["episode"] < episodes]
    summary = {"env_id": env_id, "split": split, "policy": config["policy"], "mode": getattr(make_env, "mode", None),
               **summarize(records)}
    (Path(out_dir) / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary
