"""``cotdiag leaderboard run``'s job: which policies play which suite, where, into which folder
(:func:`cotdiag.leaderboard.run.run_leaderboard` plays the cells)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cotdiag.rollout.evaluation import BACKENDS


@dataclass
class LeaderboardJob:
    """One leaderboard run; ``cotdiag leaderboard run`` takes every field as an option."""

    policies: Path = field(metadata={"help": "Policies file (.toml, .json, .yaml)."})
    suite: str = field(default="default", metadata={
        "help": "Built-in suite (default; smoke: 1 episode per split capped at 5 steps, so even the expert scores "
                "0: it checks the plumbing, not the policies) or a suite .toml/.json."})
    out: Path = field(default=Path("runs/leaderboard"), metadata={"help": "Leaderboard directory (resumes)."})
    import_modules: list[str] = field(default_factory=list, metadata={
        "help": "User module (dotted name or .py path) that registers envs/policies.", "metavar": "MODULE"})
    backend: str = field(default="local", metadata={"help": "Where episodes run.", "choices": list(BACKENDS)})
    ray_address: str | None = field(default=None, metadata={
        "help": "Ray cluster address (default: a local Ray instance)."})
    num_workers: int | None = field(default=None, metadata={"help": "Ray actors (default: one per CPU).", "min": 1})

    def run(self, progress: Callable[[str, int, int], None] | None = None) -> tuple[Any, list[Any]]:
        """Import the user modules, play every cell; returns ``(suite, statuses)``.

        Raises:
            cotdiag.error.InvalidConfigError: an unknown suite or an unreadable policies file.
        """
        import cotdiag  # noqa: F401  (registers envs)
        from cotdiag.leaderboard import get_suite, load_policies
        from cotdiag.leaderboard.run import run_leaderboard
        from cotdiag.plugins import import_user_modules

        import_user_modules(self.import_modules)
        suite = get_suite(self.suite)
        statuses = run_leaderboard(suite, load_policies(self.policies), self.out, backend=self.backend,
                                   ray_address=self.ray_address, num_workers=self.num_workers, progress=progress)
        return suite, statuses
