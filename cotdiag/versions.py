"""Which package versions CoTDiag records with its results, and how it reads them.

Two lists, one reader: :data:`SIMULATOR_PACKAGES` key leaderboard results (a result is only
comparable under the same simulators), :data:`ML_PACKAGES` are recorded in every diagnose report.
"""

from __future__ import annotations

import platform
from collections.abc import Iterable
from importlib import metadata

#: Distributions whose versions key every leaderboard result (``importlib.metadata`` names).
SIMULATOR_PACKAGES: tuple[str, ...] = ("alfworld", "scienceworld", "bfcl-eval", "textworld", "cotdiag")
#: Distributions whose versions every diagnose report records.
ML_PACKAGES: tuple[str, ...] = ("cotdiag", "torch", "transformers", "tokenizers", "trl", "datasets", "numpy",
                                "gymnasium", "alfworld", "textworld")


def installed_versions(names: Iterable[str], *, python: bool = False) -> dict[str, str | None]:
    """``{name: version}`` of the installed distributions (``None`` when not installed), in the given
    order; with ``python``, ``{"python": "3.11.7", ...}`` first."""
    out: dict[str, str | None] = {"python": platform.python_version()} if python else {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out
