"""Online prompt-vs-CoT comparison: each decoding mode plays the same episodes in the environment.

Source: docs/concepts.md (arXiv 2606.26935), "Two decoding modes on the same decision state" (CoT advantage measured online as
the episode-success gap when each mode acts in the environment on unseen tasks).

Both modes play the plan of :func:`cotdiag.rollout.episode_plan` (same task ids, same reset
seeds), so the comparison is paired per episode.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym

from cotdiag.agents.base import Policy
from cotdiag.diagnostics.common import mean_ci, paired_difference, proportion
from cotdiag.error import InvalidConfigError
from cotdiag.response import DECODING_MODES
from cotdiag.rollout import episode_plan, run_episode

logger = logging.getLogger(__name__)



def run_online(
    make_env: Callable[[str], gym.Env],
    policy: Policy,
    *,
    episodes: int,
    seed: int = 0,
    modes: Sequence[str] = DECODING_MODES,
    task_ids: Sequence[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """Play ``episodes`` episodes per mode on the same ``(task_id, seed)`` plan.

    Args:
        make_env: ``make_env(mode) -> env`` returning the env wrapped for that decoding mode (e.g.
            ``DecodingModeWrapper(gym.make(env_id, split=split), mode=mode)``).
        policy: the policy (continues from ``info["prefill"]``).
        episodes: episodes per mode.
        seed: base seed of the plan.
        modes: the decoding modes.
        task_ids: the tasks the plan draws from (default: all of ``env.unwrapped.task_ids``), e.g.
            the split's tasks minus those of the training data, so that the episodes are unseen.
        progress: ``progress(done, total)`` after each episode.

    Returns:
        ``{mode: [episode record of cotdiag.rollout.run_episode, ...]}``, records in plan order.

    Raises:
        InvalidConfigError: ``task_ids`` is given and empty.
    """
    out: dict[str, list[dict[str, Any]]] = {}
    total, done = episodes * len(modes), 0
    for mode in modes:
        env = make_env(mode)
        try:
            pool = list(env.unwrapped.task_ids) if task_ids is None else list(task_ids)
            if not pool:
                raise InvalidConfigError("expected at least one task id for the online plan, got none")
            plan = episode_plan(pool, episodes, seed)
            recs = []
            for i, task_id, ep_seed in plan:
                rec = run_episode(env, policy, task_id, ep_seed)
                rec.update(episode=i, mode=mode)
                recs.append(rec)
                done += 1
                if progress:
                    progress(done, total)
        finally:
            env.close()
        out[mode] = recs
    return out


def summarize_online(records: dict[str, list[dict[str, Any]]], *, seed: int = 0) -> dict[str, Any]:
    """Per-mode success, score and steps, and the paired online CoT advantage.

    Definitions: ``online/{mode}/success_rate`` = fraction of episodes won (Wilson 95% CI);
    ``online/{mode}/mean_score`` = mean final normalized score in [0, 1] and
    ``online/{mode}/mean_steps`` = mean env steps per episode (bootstrap 95% CIs);
    ``online/cot_advantage_success`` = mean over paired episodes of ``won_cot − won_prompt``
    (fraction of episodes, paired bootstrap 95% CI) and ``online/cot_advantage_score`` the same for
    the final score. Source: docs/concepts.md (arXiv 2606.26935), "Two decoding modes" (online CoT advantage).
    """
    out: dict[str, Any] = {}
    for mode, rs in records.items():
        out[f"online/{mode}/success_rate"] = proportion([bool(r["success"]) for r in rs])
        out[f"online/{mode}/mean_score"] = mean_ci([r["score"] for r in rs], seed=seed)
        out[f"online/{mode}/mean_steps"] = mean_ci([r["steps"] for r in rs], seed=seed)
        out[f"online/{mode}/errors"] = sum(r.get("error") is not None for r in rs)
    if "prompt" in records and "cot" in records:
        p = {(r["task_id"], r["seed"]): r for r in records["prompt"]}
        pairs = [(r, p[(r["task_id"], r["seed"])]) for r in records["cot"] if (r["task_id"], r["seed"]) in p]
        out["online/cot_advantage_success"] = paired_difference(
            [float(c["success"]) for c, _ in pairs], [float(q["success"]) for _, q in pairs], seed=seed
        )
        out["online/cot_advantage_score"] = paired_difference(
            [c["score"] for c, _ in pairs], [q["score"] for _, q in pairs], seed=seed
        )
    return out
