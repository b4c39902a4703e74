"""Compare policies on a pinned suite: ``cotdiag leaderboard run`` and ``cotdiag leaderboard show``.

* :mod:`~cotdiag.leaderboard.suite`: versioned, pinned suites (``default``, ``smoke``) and suite files;
* :mod:`~cotdiag.leaderboard.policies`: the policies config file (TOML, JSON or YAML);
* :mod:`~cotdiag.leaderboard.store`: the SQLite index over the per-episode JSONL records;
* :mod:`~cotdiag.leaderboard.run`: play every (policy, suite entry, decoding mode) cell, resumably;
* :mod:`~cotdiag.leaderboard.render`: Markdown, static HTML (sortable table) and a PNG plot.

Usage::

    cotdiag leaderboard run --suite default --policies policies.toml --out runs/board [--backend ray]
    cotdiag leaderboard show runs/board      # runs/board/leaderboard.{md,html}, cot_advantage.png

Per-step numbers come from the episode records of :func:`cotdiag.rollout.run_episode`: format
errors from ``info["parse_status"]`` (the decoding wrapper), latency from the time spent in
``policy.act``, and tokens / revisions from ``"stats/tokens"`` and ``"stats/revised"`` entries that
a policy reports in ``policy.last_stats`` (or a wrapper in ``info``) at each step.
"""

from __future__ import annotations

from cotdiag.leaderboard.policies import PolicyConfig, load_policies
from cotdiag.leaderboard.suite import SUITES, Suite, SuiteEntry, get_suite

__all__ = ["SUITES", "PolicyConfig", "Suite", "SuiteEntry", "get_suite", "load_policies"]
