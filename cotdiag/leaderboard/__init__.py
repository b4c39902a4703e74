"""Compare policies on a pinned suite: ``cotdiag leaderboard run`` and ``cotdiag leaderboard show``.

* :mod:`~cotdiag.leaderboard.suite`: versioned, pinned suites (``default``, ``smoke``) and suite files;
* :mod:`~cotdiag.leaderboard.policies`: the policies config file (TOML, JSON or YAML);
* :mod:`~cotdiag.leaderboard.store`: the SQLite index over the per-episode JSONL records;
* :mod:`~cotdiag.leaderboard.run`: play every (policy, suite entry, decoding mode) cell, resumably;
* :mod:`~cotdiag.leaderboard.render`: Markdown, static HTML (sortable table) and a PNG plot.
"""

from __future__ import annotations

from cotdiag.leaderboard.policies import PolicyConfig, load_policies
from cotdiag.leaderboard.suite import SUITES, Suite, SuiteEntry, get_suite

__all__ = ["SUITES", "PolicyConfig", "Suite", "SuiteEntry", "get_suite", "load_policies"]
