"""Shared pieces of the diagnostics: action normalization, number records with CIs, span names.

Every number a diagnostic reports is a *number record*: a flat dict
``{"value": float, "n": int, "ci95": [low, high]}`` (plus ``"successes"`` for proportions), so a
report never shows a number without its sample size and interval.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from cotdiag.stats import paired_bootstrap_ci, wilson_interval

#: Names of the token spans of an analysed sequence, in sequence order.
#: ``prompt``: the rendered prompt p; ``cot``: the reasoning trace with its think tags;
#: ``action``: the action tag and the action tokens (the part the action-only loss supervises).
SPANS: tuple[str, ...] = ("prompt", "cot", "action")

Normalizer = Callable[[str], str]


def normalize_whitespace(action: str) -> str:
    """Default action normalization: strip and collapse runs of whitespace to one space.

    This is the ALFWorld engine's rule (it strips the command and matches it case-sensitively);
    environments with other rules pass their own normalizer.
    """
    return " ".join(str(action).split())


def proportion(flags: Sequence[bool]) -> dict[str, Any]:
    """Proportion of true flags with a Wilson 95% interval.

    Args:
        flags: per-item booleans.

    Returns:
        ``{"value": k/n (nan when n == 0), "n": n, "successes": k, "ci95": [lo, hi]}``;
        the interval is :func:`cotdiag.stats.wilson_interval`.
    """
    n = len(flags)
    k = int(sum(bool(f) for f in flags))
    lo, hi = wilson_interval(k, n)
    return {"value": k / n if n else math.nan, "n": n, "successes": k, "ci95": [lo, hi]}


def mean_ci(values: Sequence[float], *, seed: int = 0, n_resamples: int = 2000) -> dict[str, Any]:
    """Mean with a percentile-bootstrap 95% interval over items.

    Computed as :func:`cotdiag.stats.paired_bootstrap_ci` of ``values`` against zeros, i.e. the
    bootstrap distribution of the mean (Efron & Tibshirani 1993, ch. 13).

    Returns:
        ``{"value": mean, "n": n, "ci95": [lo, hi]}`` (``nan`` entries when ``n == 0``).
    """
    vals = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    m, lo, hi = paired_bootstrap_ci(vals, [0.0] * len(vals), n_resamples=n_resamples, seed=seed)
    return {"value": m, "n": len(vals), "ci95": [lo, hi]}


def paired_difference(
    a: Sequence[float], b: Sequence[float], *, seed: int = 0, n_resamples: int = 10_000
) -> dict[str, Any]:
    """Mean paired difference ``mean(a - b)`` with a paired bootstrap 95% interval.

    Source: :func:`cotdiag.stats.paired_bootstrap_ci` (items resampled as pairs).

    Returns:
        ``{"value": mean(a-b), "n": n, "ci95": [lo, hi]}``.

    Raises:
        ValueError: lengths differ.
    """
    m, lo, hi = paired_bootstrap_ci(a, b, n_resamples=n_resamples, seed=seed)
    return {"value": m, "n": len(a), "ci95": [lo, hi]}
