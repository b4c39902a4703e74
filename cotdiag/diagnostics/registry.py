"""The diagnostic registry: one object per diagnostic, iterated by ``diagnose``, the report, the plots
and the leaderboard.

A :class:`Diagnostic` bundles what one analysis needs everywhere: its name (the report key and the
stage of :func:`cotdiag.diagnostics.sweep.diagnose_policy`), when it runs, how many model calls it
plans, how it runs over a model and the held-out states (summary of ``{"value", "n", "ci95"}``
records, and per-item records), its Markdown section, its plots, and the columns it offers the
leaderboard. The shipped analyses (offline, faithfulness, conflicting, attribution, online) are
entries of :mod:`cotdiag.diagnostics.builtin`; :func:`register_diagnostic` adds one from anywhere
(docs/adding_a_diagnostic.md).
"""

from __future__ import annotations

from cotdiag.diagnostics.builtin import BUILTIN
from cotdiag.diagnostics.diagnostic import Diagnostic, LeaderboardColumn, StageInputs
from cotdiag.error import InvalidConfigError

__all__ = ["REGISTRY", "Diagnostic", "LeaderboardColumn", "StageInputs", "register_diagnostic", "registered",
           "unregister_diagnostic"]


#: Registered diagnostics, in run order, the shipped ones first.
REGISTRY: dict[str, Diagnostic] = {d.name: d for d in BUILTIN}
#: Names reserved by the report's own keys.
_RESERVED = {"name", "step", "path", "timing_s", "records", "resumed"}


def register_diagnostic(diagnostic: Diagnostic, *, replace: bool = False) -> Diagnostic:
    """Add ``diagnostic`` after the registered ones (or in place of one of the same name with ``replace``).

    Raises:
        InvalidConfigError: the name is taken (without ``replace``) or reserved.
    """
    if diagnostic.name in _RESERVED:
        raise InvalidConfigError(f"diagnostic name {diagnostic.name!r} is reserved ({sorted(_RESERVED)})")
    if diagnostic.name in REGISTRY and not replace:
        raise InvalidConfigError(f"a diagnostic named {diagnostic.name!r} is already registered (pass replace=True)")
    REGISTRY[diagnostic.name] = diagnostic
    return diagnostic


def unregister_diagnostic(name: str) -> None:
    """Remove a registered diagnostic (no error when absent)."""
    REGISTRY.pop(name, None)


def registered() -> list[Diagnostic]:
    """The registered diagnostics in run order, the shipped ones first."""
    return list(REGISTRY.values())
