"""Play every (policy, suite entry, decoding mode) cell of a leaderboard, resumably.

Layout of the output directory::

    DIR/leaderboard.sqlite                      the index (cotdiag.leaderboard.store)
    DIR/runs/<policy>/<env>__<split>__<mode>__<versions>_<config>/   one evaluate run per cell
        config.json  episodes.jsonl  summary.json
    DIR/status.json                             what ran, what was skipped and why

Each cell is a plain :func:`cotdiag.rollout.evaluate` run, so a killed leaderboard resumes every
cell from its JSONL with no lost and no duplicated episode. The run directory name holds the hash
of the environment versions and of the suite entry, so a result from another simulator version or
suite version goes to another directory and another index cell.

Missing pieces are reported per cell, never fatal: an env id that is not registered, a split the
env does not have, a simulator or data set that is not installed, a policy spec that cannot be built.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import gymnasium as gym

from cotdiag.agents.base import Policy
from cotdiag.agents.registry import make_policy
from cotdiag.agents.responder import ActionResponder
from cotdiag.error import CoTDiagError
from cotdiag.leaderboard.policies import PolicyConfig
from cotdiag.leaderboard.store import ResultStore, env_versions, versions_hash
from cotdiag.leaderboard.suite import Suite, SuiteEntry
from cotdiag.rollout import evaluate
from cotdiag.rollout.factory import DecodedEnvFactory

logger = logging.getLogger(__name__)

DB_NAME = "leaderboard.sqlite"


@dataclass
class CellStatus:
    """Outcome of one cell: ``status`` is ``"done"``, ``"skipped"`` or ``"failed"``."""

    policy: str
    env_id: str
    split: str
    mode: str
    status: str
    reason: str = ""
    episodes: int = 0
    success_rate: float | None = None


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "x"


def check_entry(entry: SuiteEntry) -> str | None:
    """Why ``entry`` cannot run here (env not registered, unknown split), or ``None`` if it can."""
    if entry.env_id not in gym.registry:
        return (f"env {entry.env_id!r} is not registered (not merged or not installed yet; "
                "a user env needs --import MODULE)")
    spec = gym.spec(entry.env_id)
    try:
        creator = gym.envs.registration.load_env_creator(spec.entry_point) if isinstance(spec.entry_point, str) else spec.entry_point
    except (ImportError, AttributeError) as e:
        return f"env {entry.env_id!r} cannot be imported: {e}"
    splits = getattr(creator, "splits", ())
    if splits and entry.split not in splits:
        return f"env {entry.env_id!r} has no split {entry.split!r} (splits: {list(splits)})"
    return None


def cell_env_factory(entry: SuiteEntry, mode: str, spec: str) -> DecodedEnvFactory:
    """The env factory of one leaderboard cell: the decoding protocol saved with an ``hf:`` policy's
    model when it has one (the model input it was trained on), else the suite's default rendering
    (the observation alone: no history)."""
    from cotdiag.agents.pretrained import model_protocol

    return DecodedEnvFactory(entry.env_id, mode, history_window=0, max_episode_steps=entry.max_steps,
                             history_keep_first=False, protocol=model_protocol(spec))


def run_leaderboard(
    suite: Suite,
    policies: Sequence[PolicyConfig],
    out_dir: str | Path,
    *,
    backend: str = "local",
    ray_address: str | None = None,
    num_workers: int | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> list[CellStatus]:
    """Run every cell of ``suite`` for every policy and index the records.

    Args:
        suite: the suite (see :func:`cotdiag.leaderboard.suite.get_suite`).
        policies: the policies (see :func:`cotdiag.leaderboard.policies.load_policies`).
        out_dir: leaderboard directory (created; re-running resumes).
        backend, ray_address, num_workers: see :func:`cotdiag.rollout.evaluate`.
        progress: ``progress(cell_label, done, total)`` after each episode.

    Returns:
        One :class:`CellStatus` per cell, also written to ``out_dir/status.json``.
    """
    out = Path(out_dir)
    versions = env_versions()
    vhash = versions_hash(versions)
    statuses: list[CellStatus] = []
    ray_started = False
    if backend == "ray":  # one Ray instance for every cell (each cell still gets its own actors)
        from cotdiag.rollout.ray import init_ray

        ray_started = init_ray(ray_address, num_cpus=num_workers)
    with ResultStore(out / DB_NAME) as store:
        for pcfg in policies:
            try:
                inner = make_policy(pcfg.spec, seed=0, **pcfg.kwargs)
                build_error = None
            except (CoTDiagError, ImportError, ValueError, TypeError, OSError) as e:
                inner, build_error = None, f"policy {pcfg.spec!r} cannot be built: {e}"
            for entry in suite.entries:
                reason = build_error or check_entry(entry)
                for mode in entry.modes:
                    st = CellStatus(pcfg.name, entry.env_id, entry.split, mode, "skipped", reason or "")
                    statuses.append(st)
                    if reason:
                        logger.warning("skipping %s / %s / %s / %s: %s", pcfg.name, entry.env_id, entry.split, mode, reason)
                        continue
                    chash = suite.config_hash(entry)
                    run_dir = (out / "runs" / _slug(pcfg.name)
                               / f"{_slug(entry.env_id)}__{_slug(entry.split)}__{mode}__{vhash}_{chash}")
                    if pcfg.responds == "action":
                        policy: Policy = ActionResponder(inner, pcfg.name)
                    else:
                        policy = inner
                        policy.name = pcfg.name
                    label = f"{pcfg.name} | {entry.env_id} {entry.split} | {mode}"
                    try:
                        summary = evaluate(
                            entry.env_id, policy, run_dir, split=entry.split, episodes=entry.episodes,
                            seed=entry.seed, env_kwargs=dict(entry.env_kwargs),
                            max_episode_steps=entry.max_steps,
                            make_env=cell_env_factory(entry, mode, pcfg.spec),
                            progress=(lambda d, t, label=label: progress(label, d, t)) if progress else None,
                            backend=backend, ray_address=ray_address, num_workers=num_workers,
                        )
                        st.status, st.reason = "done", ""
                        st.episodes, st.success_rate = summary["episodes"], summary["success_rate"]
                    except CoTDiagError as e:  # missing simulator/data, mismatched run dir, ...
                        st.status, st.reason = "skipped", f"{type(e).__name__}: {e}"
                        logger.warning("skipping %s: %s", label, st.reason)
                    except Exception as e:  # noqa: BLE001 - one broken cell never stops the board
                        st.status, st.reason = "failed", f"{type(e).__name__}: {e}"
                        logger.exception("cell %s failed", label)
                    store.index_run(run_dir, {
                        "policy": pcfg.name, "env_id": entry.env_id, "split": entry.split,
                        "domain": entry.domain, "mode": mode, "suite": f"{suite.name}@v{suite.version}",
                        "versions": versions, "config_hash": chash,
                    })
    if ray_started:
        import ray

        from cotdiag.rollout.ray import shutdown_pool

        shutdown_pool()
        ray.shutdown()
    (out / "status.json").write_text(json.dumps(
        {"suite": suite.name, "version": suite.version, "versions": versions,
         "cells": [asdict(s) for s in statuses]}, indent=2) + "\n")
    return statuses
