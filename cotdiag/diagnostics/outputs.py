"""What a diagnose run writes: ``report.json``, ``report.md`` (one section per registered diagnostic)
and the PNG plots of every registered diagnostic (:mod:`cotdiag.diagnostics.registry`).

The pieces live with their concepts: the report dict, number formatting and the shipped sections
in :mod:`~cotdiag.diagnostics.report`, the shipped plots in :mod:`~cotdiag.diagnostics.plots`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cotdiag.diagnostics.registry import registered
from cotdiag.diagnostics.report import display_path, json_default

logger = logging.getLogger(__name__)


def write_report(report: dict[str, Any], checkpoints: Sequence[dict[str, Any]], out_dir: str | Path) -> Path:
    """Write ``report.json``, ``report.md`` and ``records/<name>.json``; returns ``out_dir``."""
    out = Path(out_dir)
    (out / "records").mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=2, default=json_default) + "\n")
    for c in checkpoints:
        if c.get("records"):
            (out / "records" / f"{c['name']}.json").write_text(json.dumps(c["records"], default=json_default) + "\n")
    (out / "report.md").write_text(render_markdown(report))
    return out


def render_markdown(report: dict[str, Any]) -> str:
    """``report.md``: metadata, then the section of each registered diagnostic
    (:func:`cotdiag.diagnostics.registry.registered`, in run order), then the plots."""
    cks = report["checkpoints"]
    v = report.get("versions", {})
    data = report.get("data", {})
    cfg = report.get("config", {})
    parts = [
        "# CoTDiag diagnose report\n",
        f"- model: `{display_path(report.get('model'))}`"
        + (f", checkpoints: `{display_path(report['checkpoints_dir'])}`" if report.get("checkpoints_dir") else ""),
        f"- env: `{report.get('env_id')}`, split: `{report.get('split')}`, seed: {report.get('seed')}",
        f"- held-out states available: {data.get('n_states')} ({display_path(data.get('source'))}); used (at most): "
        f"offline {cfg.get('offline_states', '?')}, conflicting {cfg.get('conflict_states', '?')}, "
        f"attribution {cfg.get('attribution_examples', '?')}; online episodes per mode: {cfg.get('online_episodes', '?')}; "
        f"faithfulness tests: {', '.join(cfg.get('faithfulness_tests') or []) or 'none'}",
        "- versions: " + ", ".join(f"{k} {val}" for k, val in v.items() if val),
        f"- created: {report.get('created')}\n",
        "Numbers: value [95% CI] n=items. Definitions: docs/concepts.md (arXiv 2606.26935); docstrings of "
        "`cotdiag.diagnostics`.\n",
    ]
    for d in registered():
        if d.markdown is not None:
            parts += d.markdown(cks)
    plots = report.get("plots") or []
    if plots:
        parts.append("\n## Plots\n\n" + "\n".join(f"![{Path(p).stem}]({p})" for p in plots) + "\n")
    return "\n".join(parts) + "\n"


def write_plots(report: dict[str, Any], out_dir: str | Path) -> list[str]:
    """Write every plot of the registered diagnostics (:func:`cotdiag.diagnostics.registry.registered`)
    the report has data for; returns their file names (relative to ``out_dir``)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, fn in (p for d in registered() for p in d.plots):
        try:
            if fn(report, out / name) is not None:
                written.append(name)
        except Exception:  # a plot never costs the run its numbers
            logger.exception("plot %s failed", name)
    return written
