"""The leaderboard's SQLite index over the per-episode JSONL records.

The JSONL files written by :func:`cotdiag.rollout.evaluate` are the source of truth; the index
(``DIR/leaderboard.sqlite``) is rebuilt from them at any time (:meth:`ResultStore.index_run`), so a
killed run loses nothing. One row per episode, keyed by (policy, env id, split, mode, seed,
environment versions, config hash): indexing the same record twice is a no-op, and results from
another version of a simulator or of the suite land in a different cell, never the same one.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any

from cotdiag.versions import SIMULATOR_PACKAGES, installed_versions

_SCHEMA = """
CREATE TABLE IF NOT EXISTS episodes (
    policy TEXT NOT NULL, env_id TEXT NOT NULL, split TEXT NOT NULL, domain TEXT NOT NULL,
    mode TEXT NOT NULL, seed INTEGER NOT NULL, episode INTEGER NOT NULL, task_id TEXT,
    versions TEXT NOT NULL, versions_hash TEXT NOT NULL, config_hash TEXT NOT NULL,
    suite TEXT NOT NULL, success INTEGER NOT NULL, score REAL NOT NULL, steps INTEGER NOT NULL,
    invalid_actions INTEGER NOT NULL, format_errors INTEGER NOT NULL, tokens REAL, revised REAL,
    policy_time_s REAL, wall_time_s REAL, error TEXT, run_dir TEXT NOT NULL,
    PRIMARY KEY (policy, env_id, split, mode, seed, versions_hash, config_hash)
);
"""


def env_versions() -> dict[str, str | None]:
    """Installed versions of :data:`cotdiag.versions.SIMULATOR_PACKAGES` (``None`` when not installed)."""
    return installed_versions(SIMULATOR_PACKAGES)


def versions_hash(versions: dict[str, Any]) -> str:
    """Short hash (10 hex chars) of a versions dict."""
    return hashlib.sha256(json.dumps(versions, sort_keys=True).encode()).hexdigest()[:10]


class ResultStore:
    """The SQLite index of a leaderboard directory.

    Args:
        path: the ``.sqlite`` file (created with its schema if missing).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(self.path)
        self.conn.row_factory = sqlite3.Row
        self.conn.executescript(_SCHEMA)

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def index_run(self, run_dir: str | Path, cell: dict[str, Any]) -> int:
        """Index every record of ``run_dir/episodes.jsonl`` under ``cell``.

        Args:
            run_dir: an evaluate run directory.
            cell: ``policy``, ``env_id``, ``split``, ``domain``, ``mode``, ``suite``, ``versions``
                (dict) and ``config_hash`` of the run.

        Returns:
            Number of rows inserted (records already indexed are skipped).
        """
        path = Path(run_dir) / "episodes.jsonl"
        if not path.exists():
            return 0
        vjson = json.dumps(cell["versions"], sort_keys=True)
        rows = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                r = json.loads(line)
            except json.JSONDecodeError:  # a line cut by a kill; EpisodeLog drops it on resume
                continue
            stats = r.get("step_stats") or {}
            rows.append((
                cell["policy"], cell["env_id"], cell["split"], cell["domain"], cell["mode"], int(r["seed"]),
                int(r["episode"]), r.get("task_id"), vjson, versions_hash(cell["versions"]),
                cell["config_hash"], cell["suite"], int(bool(r["success"])), float(r["score"]),
                int(r["steps"]), int(r.get("invalid_actions", 0)), int(r.get("format_errors", 0)),
                stats.get("stats/tokens"), stats.get("stats/revised"), r.get("policy_time_s"),
                r.get("wall_time_s"), r.get("error"), str(run_dir),
            ))
        with self.conn:
            cur = self.conn.executemany(
                f"INSERT OR IGNORE INTO episodes VALUES ({','.join('?' * 23)})", rows
            )
        return cur.rowcount

    def episodes(self) -> list[dict[str, Any]]:
        """All indexed episodes as dicts."""
        return [dict(r) for r in self.conn.execute("SELECT * FROM episodes ORDER BY policy, env_id, split, mode, seed")]

    def cells(self) -> list[dict[str, Any]]:
        """Per-cell aggregates: one row per (policy, env, split, mode, versions, config hash).

        Keys: the cell key, ``domain``, ``suite``, ``versions``, ``episodes``, ``successes``,
        ``steps``, ``format_errors``, ``tokens`` (``None`` when no episode reported tokens),
        ``revised`` (same), ``policy_time_s``, ``wall_time_s``, ``errors``.
        """
        q = """
        SELECT policy, env_id, split, domain, mode, versions, versions_hash, config_hash, suite,
               COUNT(*) AS episodes, SUM(success) AS successes, SUM(steps) AS steps,
               SUM(format_errors) AS format_errors, SUM(tokens) AS tokens, SUM(revised) AS revised,
               SUM(policy_time_s) AS policy_time_s, SUM(wall_time_s) AS wall_time_s,
               SUM(error IS NOT NULL) AS errors
        FROM episodes
        GROUP BY policy, env_id, split, mode, versions_hash, config_hash
        ORDER BY policy, env_id, domain, split, mode
        """
        return [dict(r) for r in self.conn.execute(q)]
