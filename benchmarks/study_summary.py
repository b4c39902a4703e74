"""The five findings of docs/concepts.md (arXiv 2606.26935), tested on the small-scale study's reports (paired 95% CIs).

Reads ``ROOT/ENV/RUN/SPLIT/records/checkpoint-N.json`` (written by ``cotdiag diagnose``) and writes
``ROOT/findings.json`` and ``ROOT/findings.md``. Every comparison is paired on the same items, with
:func:`cotdiag.stats.paired_bootstrap_ci` (10,000 resamples):

1. prompt-action quality rises: last minus first checkpoint, prompt-action exact match, k = 0,
   in-domain held-out states;
2. CoT advantage stays flat: last minus first checkpoint of the per-state advantage
   ``cot_correct - prompt_correct``;
3. consistency rises: last minus first checkpoint of ``consistent`` (both modes give the same action);
4. revision rate falls: last minus first checkpoint of ``outcome == "revised"`` on the full
   conflicting trace (fraction 1), per trace source;
5. masking helps out-of-domain: k = 0.3 minus k = 0 at the last checkpoint on the out-of-domain
   split, online CoT-mode success (paired by episode: same task ids and seeds) and offline CoT-action
   quality (paired by state).

A finding "reproduces" when the CI excludes 0 in the paper's direction; "opposite" when it excludes
0 the other way; otherwise "not significant". Finding 2 (a null claim) is "consistent" when the CI
contains 0, which at small n is weak evidence.

Usage: ``python benchmarks/study_summary.py benchmarks/results/study_small``
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

from cotdiag.stats import paired_bootstrap_ci

#: env folder -> (in-domain split, out-of-domain split)
SPLITS = {
    "alfworld": ("valid_seen", "valid_unseen"),
    "scienceworld": ("test_id", "test_ood_task_types"),
    "bfcl": ("in_domain", "ood_long_context"),
}


def checkpoints(run_split: Path) -> list[tuple[int, dict[str, Any]]]:
    """``[(step, records), ...]`` in training order."""
    out = []
    for p in (run_split / "records").glob("checkpoint-*.json"):
        m = re.fullmatch(r"checkpoint-(\d+)\.json", p.name)
        if m:
            out.append((int(m.group(1)), json.loads(p.read_text())))
    return sorted(out, key=lambda t: t[0])


def diff(after: list[float], before: list[float], sign: int) -> dict[str, Any]:
    """Paired difference ``after - before`` and its verdict for a finding of direction ``sign``."""
    d, lo, hi = paired_bootstrap_ci(after, before)
    if sign == 0:
        verdict = "consistent (CI contains 0)" if lo <= 0 <= hi else "does not hold (CI excludes 0)"
    elif lo > 0:
        verdict = "reproduces" if sign > 0 else "opposite"
    elif hi < 0:
        verdict = "reproduces" if sign < 0 else "opposite"
    else:
        verdict = "not significant"
    return {"diff": d, "ci95": [lo, hi], "n": len(after), "before": sum(before) / max(len(before), 1),
            "after": sum(after) / max(len(after), 1), "verdict": verdict}


def revision(recs: dict[str, Any], source: str) -> list[float]:
    rows = sorted((r for r in recs.get("conflicting", []) if r["source"] == source and float(r["fraction"]) == 1.0),
                  key=lambda r: r["index"])
    return [float(r["outcome"] == "revised") for r in rows]


def env_findings(root: Path, env: str) -> dict[str, Any]:
    ind, ood = SPLITS[env]
    res: dict[str, Any] = {"in_domain_split": ind, "ood_split": ood}
    for run in ("sft_k0", "sft_k0.3"):
        for split in (ind, ood):
            cks = checkpoints(root / env / run / split)
            if len(cks) < 2:
                continue
            first, last = cks[0][1], cks[-1][1]
            f0, f1 = first["offline"], last["offline"]
            key = f"{run}/{split}"
            mean = lambda rows, k: sum(float(r[k]) for r in rows) / max(len(rows), 1)  # noqa: E731
            res[key] = {
                "checkpoints": [s for s, _ in cks],
                "series": {k: [round(mean(r["offline"], k), 3) for _, r in cks]
                           for k in ("prompt_correct", "cot_correct", "consistent")}
                | {f"revised_at_1_{src}": [round(sum(v) / max(len(v), 1), 3) for v in (revision(r, src) for _, r in cks)]
                   for src in ("swap", "templated") if any(revision(r, src) for _, r in cks)},  # sources that ran
                "1_prompt_quality_rises": diff([float(r["prompt_correct"]) for r in f1], [float(r["prompt_correct"]) for r in f0], +1),
                "2_cot_advantage_flat": diff([float(r["cot_correct"]) - float(r["prompt_correct"]) for r in f1],
                                             [float(r["cot_correct"]) - float(r["prompt_correct"]) for r in f0], 0),
                "3_consistency_rises": diff([float(r["consistent"]) for r in f1], [float(r["consistent"]) for r in f0], +1),
                "cot_quality_change": diff([float(r["cot_correct"]) for r in f1], [float(r["cot_correct"]) for r in f0], +1),
            }
            for src in ("swap", "templated"):
                a, b = revision(last, src), revision(first, src)
                if a and len(a) == len(b):
                    res[key][f"4_revision_falls_{src}"] = diff(a, b, -1)
    k0, k3 = checkpoints(root / env / "sft_k0" / ood), checkpoints(root / env / "sft_k0.3" / ood)
    if k0 and k3:
        r0, r3 = k0[-1][1], k3[-1][1]
        five: dict[str, Any] = {"checkpoint": [k0[-1][0], k3[-1][0]]}
        on0, on3 = r0.get("online", {}).get("cot", []), r3.get("online", {}).get("cot", [])
        if on0 and len(on0) == len(on3):
            assert [(e["task_id"], e["seed"]) for e in on0] == [(e["task_id"], e["seed"]) for e in on3]
            five["online_cot_success"] = diff([float(e["success"]) for e in on3], [float(e["success"]) for e in on0], +1)
            five["online_cot_score"] = diff([float(e["score"]) for e in on3], [float(e["score"]) for e in on0], +1)
        assert [r["expert_action"] for r in r0["offline"]] == [r["expert_action"] for r in r3["offline"]]
        five["offline_cot_quality"] = diff([float(r["cot_correct"]) for r in r3["offline"]],
                                           [float(r["cot_correct"]) for r in r0["offline"]], +1)
        res["5_masking_helps_ood"] = five
    return res


def fmt(d: dict[str, Any]) -> str:
    lo, hi = d["ci95"]
    return f"{d['before']:.3f} → {d['after']:.3f}; Δ {d['diff']:+.3f} [{lo:+.3f}, {hi:+.3f}] (n={d['n']}): {d['verdict']}"


def markdown(findings: dict[str, Any]) -> str:
    lines = ["# Findings at small scale (generated by benchmarks/study_summary.py)", ""]
    for env, f in findings.items():
        lines += [f"## {env} (in-domain `{f['in_domain_split']}`, out-of-domain `{f['ood_split']}`)", ""]
        for key, v in f.items():
            if "/" not in key:
                continue
            lines.append(f"- `{key}`, checkpoints {v['checkpoints']} (first → last):")
            lines.append("  - per checkpoint: " + "; ".join(f"{k} {vals}" for k, vals in v["series"].items()))
            for name, d in v.items():
                if isinstance(d, dict) and "diff" in d:
                    lines.append(f"  - {name}: {fmt(d)}")
        five = f.get("5_masking_helps_ood")
        if five:
            lines.append(f"- 5_masking_helps_ood (k=0 → k=0.3, checkpoints {five['checkpoint']}):")
            for name, d in five.items():
                if isinstance(d, dict):
                    lines.append(f"  - {name}: {fmt(d)}")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", type=Path)
    ap.add_argument("--splits", action="append", default=[], metavar="ENV=ID,OOD",
                    help="override an env's (in-domain, out-of-domain) split folders, e.g. "
                         "alfworld=eval_id_task_types,eval_ood_task_types")
    args = ap.parse_args()
    for item in args.splits:
        env, _, pair = item.partition("=")
        ind, _, ood = pair.partition(",")
        if env not in SPLITS or not ind or not ood:
            ap.error(f"expected --splits ENV=ID,OOD with ENV in {sorted(SPLITS)}, got {item!r}")
        SPLITS[env] = (ind, ood)
    findings = {env: env_findings(args.root, env) for env in SPLITS if (args.root / env).is_dir()}
    (args.root / "findings.json").write_text(json.dumps(findings, indent=2) + "\n")
    md = markdown(findings)
    (args.root / "findings.md").write_text(md + "\n")
    print(md)


if __name__ == "__main__":
    main()
