"""The diagnose plots draw what the numbers support (#19 item 17): no interval below n = 5, an error
bar for a single checkpoint, nothing for n = 0, and offset markers so equal values stay visible."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.container import ErrorbarContainer  # noqa: E402

from cotdiag.diagnostics.plots import MIN_N, _line, _series  # noqa: E402


def _ck(step, n, value=0.5, ci=(0.3, 0.7)):
    return {"name": f"checkpoint-{step}", "step": step,
            "offline": {"q": {"value": value, "n": n, "ci95": list(ci)}}}


def test_series_hides_intervals_below_min_n_and_values_at_n_zero():
    v, lo, hi = _series([_ck(1, 0), _ck(2, 2, 0.0, (0.0, 0.0)), _ck(3, MIN_N)], "offline", "q")
    assert math.isnan(v[0]) and math.isnan(lo[0])  # n = 0: not drawn at all
    assert v[1] == 0.0 and math.isnan(lo[1]) and math.isnan(hi[1])  # n = 2: a point without the [0, 0] "interval"
    assert (lo[2], hi[2]) == (0.3, 0.7)


def test_a_series_measured_nowhere_draws_nothing():
    fig, ax = plt.subplots()
    _line(ax, [1.0, 2.0], _series([_ck(1, 0), _ck(2, 0)], "offline", "q"), "a_c", "red")
    assert not ax.lines and not ax.collections and ax.get_legend_handles_labels() == ([], [])
    plt.close(fig)


def test_one_checkpoint_gets_an_error_bar_and_small_n_is_labelled():
    fig, ax = plt.subplots()
    _line(ax, [10.0], _series([_ck(10, 50)], "offline", "q"), "a_p", "blue")
    assert any(isinstance(c, ErrorbarContainer) for c in ax.containers)
    fig2, ax2 = plt.subplots()
    _line(ax2, [10.0, 20.0], _series([_ck(10, 3), _ck(20, 3)], "offline", "q"), "a_p", "blue")
    assert "a_p: n too small for an interval" in ax2.get_legend_handles_labels()[1]
    assert not any(isinstance(c, ErrorbarContainer) for c in ax2.containers)
    plt.close(fig)
    plt.close(fig2)


def test_offsets_keep_equal_markers_apart():
    fig, ax = plt.subplots()
    s = _series([_ck(10, 50), _ck(20, 50)], "offline", "q")
    _line(ax, [10.0, 20.0], s, "a_p", "blue", offset=-0.04)
    _line(ax, [10.0, 20.0], s, "a_c", "red", offset=0.04)
    xs = [tuple(line.get_xdata()) for line in ax.lines if line.get_label() in ("a_p", "a_c")]
    assert xs == [(9.6, 19.6), (10.4, 20.4)]
    plt.close(fig)
