"""Confidence intervals used in summaries and diagnostics, computed by ``scipy.stats``.

Wilson intervals come from ``scipy.stats.binomtest(k, n).proportion_ci(method="wilson")`` and the
paired percentile bootstrap from ``scipy.stats.bootstrap(..., paired=True, method="percentile")``
seeded with ``numpy.random.default_rng(seed)``; both reproduce, to the last bit, the hand-written
versions the study reports were computed with (checked against stored ``report.json`` files in
``tests/test_stats.py``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats

from cotdiag.error import InvalidConfigError


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion.

    Source: Wilson, E. B. (1927), "Probable inference, the law of succession, and statistical
    inference", JASA 22(158). ``center = (p + z²/2n) / (1 + z²/n)``,
    ``half = z·sqrt(p(1-p)/n + z²/4n²) / (1 + z²/n)``.

    Args:
        successes: number of successes, ``0 <= successes <= n``.
        n: number of trials; ``n == 0`` gives ``(0.0, 1.0)``.
        confidence: two-sided confidence level.

    Returns:
        ``(low, high)``, both in ``[0, 1]``.

    Raises:
        cotdiag.error.InvalidConfigError: ``successes`` outside ``[0, n]``.

    Example:
        >>> [round(x, 4) for x in wilson_interval(8, 10)]
        [0.4902, 0.9433]
    """
    if not 0 <= successes <= n:
        raise InvalidConfigError(f"expected 0 <= successes <= n, got successes={successes}, n={n}")
    if n == 0:
        return 0.0, 1.0
    ci = stats.binomtest(int(successes), int(n)).proportion_ci(confidence_level=confidence, method="wilson")
    return max(0.0, float(ci.low)), min(1.0, float(ci.high))


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
        cotdiag.error.InvalidConfigError: lengths differ.

    Example:
        >>> paired_bootstrap_ci([1, 1, 1, 0], [0, 0, 1, 0], n_resamples=1000)[0]
        0.5
    """
    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    if x.shape != y.shape:
        raise InvalidConfigError(f"expected paired samples of equal length, got {len(x)} and {len(y)}")
    if x.size == 0:
        return math.nan, math.nan, math.nan
    mean = float((x - y).mean())
    if x.size == 1:  # one pair: every resample is that pair
        return mean, mean, mean
    res = stats.bootstrap(
        (x, y), _mean_difference, paired=True, vectorized=True, n_resamples=n_resamples,
        confidence_level=confidence, method="percentile", rng=np.random.default_rng(seed),
    )
    return mean, float(res.confidence_interval.low), float(res.confidence_interval.high)


def _mean_difference(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x - y, axis=axis)
