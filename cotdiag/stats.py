"""Confidence intervals used in summaries and diagnostics."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def wilson_interval(successes: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion.

    Source: Wilson, E. B. (1927), "Probable inference, the law of succession, and statistical
    inference", JASA 22(158). ``center = (p + z²/2n) / (1 + z²/n)``,
    ``half = z·sqrt(p(1-p)/n + z²/4n²) / (1 + z²/n)``.

    Args:
        successes: number of successes, ``0 <= successes <= n``.
        n: number of trials; ``n == 0`` gives ``(0.0, 1.0)``.
        z: normal quantile (default: two-sided 95%).

    Returns:
        ``(low, high)``, both in ``[0, 1]``.

    Raises:
        ValueError: ``successes`` outside ``[0, n]``.
    """
    if not 0 <= successes <= n:
        raise ValueError(f"expected 0 <= successes <= n, got successes={successes}, n={n}")
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1.0 + z * z / n
    center = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, center - half), min(1.0, center + half)


def newcombe_difference_interval(k1: int, n1: int, k2: int, n2: int) -> tuple[float, float]:
    """95% interval for the difference of two independent proportions ``k2/n2 - k1/n1``.

    Source: Newcombe, R. G. (1998), "Interval estimation for the difference between independent
    proportions: comparison of eleven methods", Statistics in Medicine 17(8), method 10 (hybrid
    score): with Wilson intervals ``(l1, u1)`` and ``(l2, u2)`` and ``d = p2 - p1``,
    ``[d - sqrt((p2 - l2)² + (u1 - p1)²), d + sqrt((u2 - p2)² + (p1 - l1)²)]``. For two modes
    played on the same episode plan it ignores the pairing, so it is conservative.

    Returns:
        ``(low, high)`` in ``[-1, 1]``; ``(-1.0, 1.0)`` when either ``n`` is 0.

    Example:
        >>> lo, hi = newcombe_difference_interval(48, 80, 56, 70)  # Newcombe's 56/70 - 48/80
        >>> round(lo, 4), round(hi, 4)  # his Table II, method 10: 0.0524, 0.3339
        (0.0524, 0.3339)
    """
    if n1 <= 0 or n2 <= 0:
        return -1.0, 1.0
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = wilson_interval(k1, n1)
    l2, u2 = wilson_interval(k2, n2)
    d = p2 - p1
    return max(-1.0, d - math.hypot(p2 - l2, u1 - p1)), min(1.0, d + math.hypot(u2 - p2, p1 - l1))


def paired_bootstrap_ci(
    a: Sequence[float],
    b: Sequence[float],
    *,
    n_resamples: int = 10_000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """Mean difference ``mean(a - b)`` with a paired percentile-bootstrap CI.

    Source: Efron & Tibshirani (1993), "An Introduction to the Bootstrap", ch. 13 (percentile
    interval); pairs are resampled together so the CI reflects per-item correlation.

    Args:
        a, b: paired per-item values (same length, e.g. CoT and prompt correctness in ``{0, 1}``).
        n_resamples: number of bootstrap resamples.
        confidence: two-sided confidence level.
        seed: seed of the resampling generator.

    Returns:
        ``(mean_difference, low, high)``; ``(nan, nan, nan)`` for empty inputs.

    Raises:
        ValueError: lengths differ.
    """
    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"expected paired samples of equal length, got {len(x)} and {len(y)}")
    if x.size == 0:
        return math.nan, math.nan, math.nan
    d = x - y
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, d.size, size=(n_resamples, d.size))
    means = d[idx].mean(axis=1)
    alpha = (1.0 - confidence) / 2
    return float(d.mean()), float(np.quantile(means, alpha)), float(np.quantile(means, 1 - alpha))
