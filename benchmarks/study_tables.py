"""Every measured cell of a study, one Markdown table: ROOT/ENV/RUN/SPLIT/report.json -> ROOT/cells.md.

One row per (env, run, split, checkpoint); columns are the offline metrics, the conflicting-trace
outcomes at the longest truncation fraction per source, the attention and gradient prompt shares
(with and without the first token, the attention sink) and the online success per mode, each as
``value [95% CI] n`` where the report has an interval. Definitions: docs/concepts.md.

Usage: ``python benchmarks/study_tables.py benchmarks/results/study_smollm2/cpu-small``
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def cell(metric: Any) -> str:
    """``value [lo, hi] n=N`` of a report metric dict, ``value`` of a number, ``—`` when absent."""
    if metric is None:
        return "—"
    if isinstance(metric, (int, float)):
        return f"{metric:.3f}"
    v, ci, n = metric.get("value"), metric.get("ci95"), metric.get("n")
    if v is None:
        return "—"
    out = f"{v:.3f}"
    if ci:
        out += f" [{ci[0]:.2f}, {ci[1]:.2f}]"
    if n is not None:
        out += f" n={n}"
    return out


def conflicting_cells(conf: dict[str, Any]) -> dict[str, str]:
    """``{source: "kept a1 x / revised y"}`` at the longest truncation fraction of each source."""
    out = {}
    for source, by_frac in (conf or {}).items():
        if not isinstance(by_frac, dict) or not by_frac:
            continue
        frac = max(by_frac, key=float)
        d = by_frac[frac]
        out[source] = (f"f={float(frac):g}: kept a1 {cell(d.get('anchored_rate'))}; "
                       f"revised {cell(d.get('revision_rate'))}; other {cell(d.get('other_rate'))}")
    return out


COLUMNS = ["env", "run", "split", "checkpoint", "prompt quality", "CoT quality", "CoT advantage", "consistency",
           "logp expert prompt / CoT (nats)", "conflicting", "attention prompt share (no sink)",
           "gradient prompt share (no sink)", "online prompt / CoT success"]


def rows(root: Path) -> list[list[str]]:
    out = []
    for report in sorted(root.glob("*/*/*/report.json")):
        env, run, split = report.parts[-4], report.parts[-3], report.parts[-2]
        r = json.loads(report.read_text())
        for ck in r["checkpoints"]:
            off, att, onl = ck.get("offline", {}), ck.get("attribution", {}) or {}, ck.get("online", {}) or {}
            conf = "<br>".join(f"{s}: {t}" for s, t in conflicting_cells(ck.get("conflicting", {})).items()) or "—"
            out.append([
                env, run, split, ck["name"],
                cell(off.get("offline/prompt_quality")), cell(off.get("offline/cot_quality")),
                cell(off.get("offline/cot_advantage")), cell(off.get("offline/consistency")),
                f"{cell(off.get('offline/logp_expert_prompt_nats'))} / {cell(off.get('offline/logp_expert_cot_nats'))}",
                conf,
                f"{cell(att.get('attention/prompt_share'))} ({cell(att.get('attention_no_sink/prompt_share'))})",
                f"{cell(att.get('gradient/value_path_prompt_share'))} "
                f"({cell(att.get('gradient_no_sink/value_path_prompt_share'))})",
                f"{cell(onl.get('online/prompt/success_rate'))} / {cell(onl.get('online/cot/success_rate'))}",
            ])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", type=Path)
    args = ap.parse_args()
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(r) + " |" for r in rows(args.root)]
    md = "\n".join(lines) + "\n"
    (args.root / "cells.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
