"""The record of one episode, accumulated step by step (the same for every backend).

Record keys (one JSON object per episode in ``episodes.jsonl``):

===================== ===================================================================
``task_id``, ``seed`` the planned task and reset seed
``task_type``         ``info["task_type"]`` of the last transition
``success``           the task was won (``info["won"]``) and the episode did not fail
``score``             final normalized score in ``[0, 1]`` (``info["score"]``)
``return``            sum of rewards
``steps``             env steps taken
``invalid_actions``   steps whose ``info["invalid_action"]`` was true
``truncated``         the last step was truncated (``TimeLimit``)
``actions``           what the policy returned, one per step (raw completions under a decoding
                      wrapper)
``env_actions``       what the simulator received: the wrapper's ``info["action"]`` (``None`` for a
                      response that did not parse); equal to ``actions`` without a wrapper
``format_errors``     steps whose ``info["parse_status"]`` is not ``"ok"``
``error``             ``None``, or the traceback text (5 frames) of the exception that ended the
                      episode, raised by the policy or the env: a failed episode is a recorded
                      outcome, never a crash of the run
``wall_time_s``       seconds from the reset to the end of the episode
``policy_time_s``     seconds spent in ``policy.act``
``step_stats``        per-episode sums of the numeric ``"stats/..."`` entries of each step's
                      ``info`` and of ``policy.last_stats`` (the leaderboard reads ``stats/tokens``
                      and ``stats/revised``)
``policy_steps``      only when the policy sets ``last_step`` (a dict per step): e.g. ``HFPolicy``
                      with ``action_selection="score"`` records ``generated`` and ``chosen`` actions
===================== ===================================================================
"""

from __future__ import annotations

import hashlib
import logging
import time
import traceback
from typing import Any

logger = logging.getLogger(__name__)

#: Failure classes (last traceback line) already reported in this process.
_REPORTED: set[str] = set()

#: Record keys whose values are timings (they differ between two runs of the same episode).
TIMING_KEYS: tuple[str, ...] = ("wall_time_s", "policy_time_s")


def observation_hash(obs: Any) -> str:
    """A short hash (16 hex digits of SHA-1) of an observation's text: what a replayed step must
    reproduce (see :meth:`EpisodeRecorder.replayed`)."""
    return hashlib.sha1(str(obs).encode("utf-8", "backslashreplace")).hexdigest()[:16]


def add_step_stats(acc: dict[str, float], source: Any) -> None:
    """Add the numeric ``"stats/..."`` entries of ``source`` (a dict, or ``source.last_stats``) to ``acc``."""
    stats = source if isinstance(source, dict) else getattr(source, "last_stats", None)
    for key, value in (stats or {}).items():
        if str(key).startswith("stats/") and isinstance(value, (bool, int, float)):
            acc[key] = acc.get(key, 0) + float(value)


class EpisodeRecorder:
    """Accumulates one episode's record (keys in the module docstring).

    Call :meth:`observe` with the reset's ``info``, then per step :meth:`act` and :meth:`step`;
    :meth:`finish` returns the record. An ``info`` carrying ``"error"`` (set by
    :class:`cotdiag.rollout.vector.EpisodePlanWrapper` when the env raised) fails the episode, as
    does a policy that raises in :meth:`act`.

    Args:
        task_id: the planned task.
        seed: the planned reset seed.
    """

    def __init__(self, task_id: str, seed: int) -> None:
        self.t0 = time.perf_counter()
        self.error: str | None = None
        self.done = False
        self.info: dict[str, Any] = {}
        self.actions: list[str] = []
        self.env_actions: list[str | None] = []
        self.total, self.steps, self.invalid, self.format_errors = 0.0, 0, 0, 0
        self.policy_steps: list[dict[str, Any]] = []
        self.truncated = False
        self.policy_time = 0.0
        self.stats: dict[str, float] = {}
        self.task_id, self.seed = task_id, seed
        self._taken: dict[str, Any] = {}

    def fail(self, error: str) -> None:
        """End the episode as failed with ``error`` (a traceback text)."""
        self.error, self.done = error, True
        last = error.strip().splitlines()[-1].strip() if error.strip() else "unknown error"
        if last not in _REPORTED:  # one line per kind of failure; the rest are counted in the summary
            _REPORTED.add(last)
            logger.warning("episode on %s failed: %s (traceback in the run's episodes.jsonl, key 'error'; "
                           "further failures of this kind are counted, not printed)", self.task_id, last)
        logger.debug("episode on %s failed:\n%s", self.task_id, error)

    def observe(self, info: dict[str, Any]) -> None:
        """Take the reset's ``info`` (an ``"error"`` entry fails the episode)."""
        if "error" in info:
            self.fail(str(info["error"]))
        else:
            self.info = info

    def act(self, policy: Any, observation: Any, info: dict[str, Any]) -> Any:
        """Ask ``policy`` for the next action; a raising policy fails the episode (returns ``None``)."""
        t_act = time.perf_counter()
        try:
            action = policy.act(observation, info)
        except Exception:  # recorded outcome, never a crash mid-run
            self.fail(traceback.format_exc(limit=5))
            action = None
        return self.took(policy, action, time.perf_counter() - t_act)

    def took(self, policy: Any, action: Any, seconds: float) -> Any:
        """Record an action ``policy`` returned in ``seconds`` (a batched call's share) and return it."""
        stats: dict[str, float] = {}
        add_step_stats(stats, policy)
        detail = getattr(policy, "last_step", None)
        self._add_policy_part(stats, dict(detail) if isinstance(detail, dict) else None, seconds)
        return action

    def _add_policy_part(self, stats: dict[str, float], detail: dict[str, Any] | None, seconds: float) -> None:
        self.policy_time += seconds
        add_step_stats(self.stats, stats)
        if detail is not None:  # e.g. the generated and the chosen action under admissible scoring
            self.policy_steps.append(detail)
        self._taken = {"policy_stats": stats, "policy_step": detail, "policy_time_s": seconds}

    def replayed(self, entry: dict[str, Any]) -> Any:
        """Take the policy's part of a recorded step (an :meth:`entry`) instead of acting; return its action.

        The wall time restarts from the entry's, so a resumed episode's ``wall_time_s`` counts the
        time spent before the kill (not the time between the kill and the resume)."""
        self._add_policy_part(dict(entry["policy_stats"]), entry["policy_step"], float(entry["policy_time_s"]))
        self.t0 = time.perf_counter() - float(entry["wall_time_s"])
        return entry["action"]

    def entry(self, episode: int, observation: Any) -> dict[str, Any]:
        """The journal entry of the step just taken (``steps.jsonl``, see
        :class:`~cotdiag.rollout.episode_log.EpisodeLog`): episode index, step (from 0), the
        policy's action, stats, step detail and seconds, the wall time so far, and the hash of the
        next observation."""
        return {"episode": episode, "step": len(self.actions) - 1, "action": self.actions[-1], **self._taken,
                "wall_time_s": time.perf_counter() - self.t0, "obs_sha1": observation_hash(observation)}

    def step(self, action: Any, reward: float, terminated: bool, truncated: bool, info: dict[str, Any]) -> None:
        """Take one step's outcome; ``done`` once it terminated, truncated or failed."""
        self.actions.append(action)
        if "error" in info:
            self.fail(str(info["error"]))
            return
        self.env_actions.append(info.get("action", action))
        self.total += float(reward)
        self.steps += 1
        self.invalid += int(bool(info.get("invalid_action", False)))
        self.format_errors += int(info.get("parse_status", "ok") != "ok")
        add_step_stats(self.stats, info)
        self.truncated, self.info = bool(truncated), info
        self.done = bool(terminated or truncated)

    def finish(self) -> dict[str, Any]:
        """The episode's record."""
        info = self.info
        return {
            "task_id": self.task_id, "seed": self.seed, "error": self.error,
            "task_type": info.get("task_type", ""),
            "success": bool(info.get("won", False)) and self.error is None,
            "score": float(info.get("score", 0.0)), "return": self.total,
            "steps": self.steps, "invalid_actions": self.invalid, "truncated": self.truncated,
            "actions": self.actions, "env_actions": self.env_actions,
            "wall_time_s": time.perf_counter() - self.t0, "policy_time_s": self.policy_time,
            "format_errors": self.format_errors, "step_stats": self.stats,
            **({"policy_steps": self.policy_steps} if self.policy_steps else {}),
        }
