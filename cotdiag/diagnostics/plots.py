"""PNG plots of a diagnose report (matplotlib, Agg backend).

Each function takes the report dict of :func:`cotdiag.diagnostics.report.build_report`, writes one
PNG and returns its path, or ``None`` when the report lacks the data. :func:`cotdiag.diagnostics.outputs.write_plots`
writes those of every registered diagnostic.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

PROMPT_COLOR = "#1f77b4"
COT_COLOR = "#d62728"


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _x(cks: Sequence[dict[str, Any]]) -> tuple[list[float], str, list[str]]:
    """x positions (checkpoint steps when all known, else indices), axis label, tick labels."""
    steps = [c.get("step") for c in cks]
    if all(s is not None for s in steps):
        return [float(s) for s in steps], "training step (checkpoint)", [str(s) for s in steps]
    return list(range(len(cks))), "checkpoint", [c["name"] for c in cks]


#: Below this n a point is drawn hollow and its interval is not drawn ("n too small" in the legend):
#: a bootstrap interval of [0, 0] at n = 2 looks exact and is not.
MIN_N = 5


def _series(cks: Sequence[dict[str, Any]], section: str, key: str) -> tuple[list[float], list[float], list[float]]:
    """Values and interval bounds per checkpoint; a record with n = 0 (or missing) is NaN (not drawn)."""
    nan = float("nan")
    vals, los, his = [], [], []
    for c in cks:
        rec = (c.get(section) or {}).get(key) or {}
        n = rec.get("n")
        v = rec.get("value", nan) if n != 0 else nan
        lo, hi = rec.get("ci95", [nan, nan]) if n is None or n >= MIN_N else (nan, nan)
        vals.append(v)
        los.append(lo)
        his.append(hi)
    return vals, los, his


def _line(ax: Any, x: list[float], s: tuple[list[float], list[float], list[float]], label: str, color: str,
          style: str = "-", offset: float = 0.0) -> None:
    """A series with its 95% band; one checkpoint gets an error bar (a band of one point is invisible).

    Points without an interval (n < :data:`MIN_N`) are hollow; ``offset`` shifts the series
    horizontally (a fraction of the x spacing) so that markers of equal values do not hide each other.
    """
    v, lo, hi = s
    if all(math.isnan(a) for a in v):
        return  # nothing measured (n = 0 everywhere): no line, no legend entry
    if offset and len(x) > 1:
        step = min(b - a for a, b in zip(x, x[1:], strict=False)) or 1.0
        x = [a + offset * step for a in x]
    elif offset:
        x = [a + offset for a in x]
    ax.plot(x, v, style, color=color, label=label, lw=2, alpha=0.9)
    tight = [i for i in range(len(v)) if not math.isnan(lo[i])]
    loose = [i for i in range(len(v)) if math.isnan(lo[i]) and not math.isnan(v[i])]
    ax.plot([x[i] for i in tight], [v[i] for i in tight], "o", color=color, ms=6)
    if loose:
        ax.plot([x[i] for i in loose], [v[i] for i in loose], "o", mfc="white", color=color, ms=6,
                label=f"{label}: n too small for an interval")
    if len(x) == 1 and tight:
        ax.errorbar(x, v, yerr=[[v[0] - lo[0]], [hi[0] - v[0]]], color=color, capsize=4, lw=1.5)
    else:
        ax.fill_between(x, lo, hi, color=color, alpha=0.15, lw=0)


def _finish(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    _plt().close(fig)
    return path


def plot_quality(report: dict[str, Any], path: Path) -> Path | None:
    """Prompt-action and CoT-action quality (exact match) over checkpoints, 95% CI bands."""
    cks = [c for c in report["checkpoints"] if c.get("offline")]
    if not cks:
        return None
    plt = _plt()
    x, xl, ticks = _x(cks)
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    _line(ax, x, _series(cks, "offline", "offline/prompt_quality"), "prompt action a_p", PROMPT_COLOR, offset=-0.04)
    _line(ax, x, _series(cks, "offline", "offline/cot_quality"), "CoT action a_c", COT_COLOR, offset=0.04)
    n = cks[0]["offline"]["offline/prompt_quality"]["n"]
    ax.set(xlabel=xl, ylabel="quality (exact match with expert)", ylim=(-0.02, 1.02),
           title=f"Action quality per decoding mode ({report.get('split')}, n={n} states)")
    ax.set_xticks(x, ticks)
    ax.grid(alpha=0.3)
    ax.legend(loc="best")
    return _finish(fig, path)


def plot_advantage_consistency(report: dict[str, Any], path: Path) -> Path | None:
    """CoT advantage (paired CI) and consistency (Wilson CI) over checkpoints, side by side."""
    cks = [c for c in report["checkpoints"] if c.get("offline")]
    if not cks:
        return None
    plt = _plt()
    x, xl, ticks = _x(cks)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    _line(a1, x, _series(cks, "offline", "offline/cot_advantage"), "offline", "#9467bd")
    if any(c.get("online") for c in cks):
        _line(a1, x, _series(cks, "online", "online/cot_advantage_success"), "online (success)", "#8c564b", "--",
              offset=0.04)
    a1.axhline(0, color="k", lw=0.8)
    a1.set(xlabel=xl, ylabel="quality(a_c) − quality(a_p)", ylim=(-1.02, 1.02), title="CoT advantage (95% CI)")
    a1.legend(loc="best")
    _line(a2, x, _series(cks, "offline", "offline/consistency"), "a_p == a_c", "#2ca02c")
    a2.set(xlabel=xl, ylabel="fraction of states", ylim=(-0.02, 1.02), title="Consistency (95% CI)")
    for ax in (a1, a2):
        ax.set_xticks(x, ticks)
        ax.grid(alpha=0.3)
    return _finish(fig, path)


def plot_revision(report: dict[str, Any], path: Path) -> Path | None:
    """Revision rate (solid) and prompt-anchored rate (dashed) against truncation fraction.

    One panel per trace source; one colour per checkpoint (light = early, dark = late).
    """
    cks = [c for c in report["checkpoints"] if c.get("conflicting")]
    if not cks:
        return None
    plt = _plt()
    sources = sorted({s for c in cks for s in c["conflicting"]})
    fig, axes = plt.subplots(1, len(sources), figsize=(5.2 * len(sources), 4.2), squeeze=False)
    cmap = plt.get_cmap("viridis")
    for ax, src in zip(axes[0], sources, strict=True):
        for k, c in enumerate(cks):
            per = c["conflicting"].get(src)
            if not per:
                continue
            color = cmap(0.15 + 0.7 * k / max(1, len(cks) - 1))
            shift = 0.012 * (k - (len(cks) - 1) / 2)  # keep overlapping error bars apart
            fr = [float(f) + shift for f in per]
            rev = [per[f]["revision_rate"] for f in per]
            anc = [per[f]["anchored_rate"] for f in per]
            err = [[max(0.0, r["value"] - r["ci95"][0]) for r in rev], [max(0.0, r["ci95"][1] - r["value"]) for r in rev]]
            ax.errorbar(fr, [r["value"] for r in rev], yerr=err, marker="o", color=color, lw=2, capsize=3,
                        label=f"{c['name']} revision")
            ax.plot(fr, [r["value"] for r in anc], "--", marker="s", color=color, alpha=0.7, label=f"{c['name']} anchored")
        n = next(iter(cks[0]["conflicting"].get(src, {}).values()), {}).get("revision_rate", {}).get("n", "?")
        ax.set(xlabel="fraction of conflicting trace kept", ylabel="fraction of states", ylim=(-0.02, 1.02),
               title=f"Conflicting trace '{src}' (n={n})\nsolid: revision (output = a2), dashed: anchored (= a1)")
        ax.set_xticks([0, 0.25, 0.5, 0.75, 1.0])
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    return _finish(fig, path)


def plot_layers(report: dict[str, Any], path: Path) -> Path | None:
    """Prompt share per layer: attention (left) and value-path gradient α·δ (right).

    Solid: all key positions; dotted: first token (attention sink) excluded; one colour per
    checkpoint (light = early, dark = late).
    """
    cks = [c for c in report["checkpoints"] if (c.get("attribution") or {}).get("per_layer/attention/prompt")]
    if not cks:
        return None
    plt = _plt()
    cmap = plt.get_cmap("plasma")
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
    for ax, kind, title in ((axes[0], "attention", "Attention of action rows"), (axes[1], "gradient", "Gradient mass α·δ")):
        for k, c in enumerate(cks):
            a = c["attribution"]
            color = cmap(0.1 + 0.75 * k / max(1, len(cks) - 1))
            for sink, style in (("", "-"), ("_no_sink", ":")):
                vals = a.get(f"per_layer/{kind}{sink}/prompt")
                if not vals:
                    continue
                layers = list(range(len(vals)))
                ci = a.get(f"per_layer/{kind}{sink}/prompt_ci95")
                ax.plot(layers, vals, style, marker="o", color=color, lw=2,
                        label=f"{c['name']}" + (" (no sink)" if sink else ""))
                if ci and not sink:
                    ax.fill_between(layers, [x[0] for x in ci], [x[1] for x in ci], color=color, alpha=0.12, lw=0)
        n = cks[0]["attribution"].get("attribution/examples", "?")
        ax.set(xlabel="layer", ylabel="prompt share", ylim=(-0.02, 1.02),
               title=f"{title}: prompt share (n={n})\nsolid: all tokens, dotted: first token excluded")
        ax.set_xticks(range(len(cks[0]["attribution"]["per_layer/attention/prompt"])))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    return _finish(fig, path)


#: (label, key, colour) of the right panel of :func:`plot_faithfulness`.
BATTERY_SERIES: tuple[tuple[str, str, str], ...] = (
    ("mistake: action changed", "mistake/changed_rate", "#d62728"),
    ("paraphrase: action unchanged", "paraphrase/unchanged_rate", "#2ca02c"),
    ("filler − prompt quality", "filler/minus_prompt_quality", "#7f7f7f"),
    ("hint followed (prompt)", "hint/prompt_follow_rate", PROMPT_COLOR),
    ("hint followed (CoT)", "hint/cot_follow_rate", "#9467bd"),
    ("CoT acknowledges hint", "hint/cot_acknowledge_rate", "#8c564b"),
)


def plot_faithfulness(report: dict[str, Any], path: Path) -> Path | None:
    """The faithfulness battery (docs/faithfulness.md).

    Left: early-answering curve (share of actions equal to the full-CoT action vs fraction of the
    CoT kept, Wilson 95% CI bars), one colour per checkpoint (light = early), AOC in the legend.
    Right: the other battery rates over checkpoints (95% CI bands).
    """
    cks = [c for c in report["checkpoints"] if c.get("faithfulness")]
    if not cks:
        return None
    plt = _plt()
    cmap = plt.get_cmap("viridis")
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.2))
    for k, c in enumerate(cks):
        f = c["faithfulness"]
        pts = sorted((float(key.rsplit("/", 1)[1]), rec) for key, rec in f.items() if key.startswith("early/same_as_full/"))
        if not pts:
            continue
        vals = [r["value"] for _, r in pts]
        err = [[max(0.0, r["value"] - r["ci95"][0]) for _, r in pts], [max(0.0, r["ci95"][1] - r["value"]) for _, r in pts]]
        aoc = (f.get("early/aoc") or {}).get("value", float("nan"))
        a1.errorbar([x for x, _ in pts], vals, yerr=err, marker="o", lw=2, capsize=3,
                    color=cmap(0.15 + 0.7 * k / max(1, len(cks) - 1)), label=f"{c['name']} (AOC {aoc:.2f}, n={pts[0][1]['n']})")
    a1.set(xlabel="fraction of the model's own CoT kept", ylabel="share of actions = full-CoT action", ylim=(-0.02, 1.02),
           title="Early answering (Lanham et al. 2023)")
    a1.legend(fontsize=7, loc="best")
    x, xl, ticks = _x(cks)
    shown = [(label, key, color) for label, key, color in BATTERY_SERIES if any(key in c["faithfulness"] for c in cks)]
    for j, (label, key, color) in enumerate(shown):  # spread the markers: equal values would hide each other
        _line(a2, x, _series(cks, "faithfulness", key), label, color, offset=0.03 * (j - (len(shown) - 1) / 2))
    a2.axhline(0, color="k", lw=0.8)
    a2.set(xlabel=xl, ylabel="fraction of states", ylim=(-1.02, 1.02), title="Mistake, paraphrase, filler, hint (95% CI)")
    a2.set_xticks(x, ticks)
    a2.legend(fontsize=7, loc="best")
    for ax in (a1, a2):
        ax.grid(alpha=0.3)
    return _finish(fig, path)
