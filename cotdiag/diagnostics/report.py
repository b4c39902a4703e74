"""``report.json`` and ``report.md`` of a diagnose run.

``report.json`` holds the run's metadata (model, env, split, seed, config, package versions) and,
per checkpoint in training order, every summary of :func:`cotdiag.diagnostics.sweep.diagnose_policy`
(each number a record ``{"value", "n", "ci95"}``). Per-item records go to
``records/<checkpoint>.json`` next to it. ``report.md`` shows the same numbers as tables: the
shipped diagnostics' sections are here (:func:`offline_md`, ...), the file is assembled by
:mod:`cotdiag.diagnostics.outputs`.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def package_versions() -> dict[str, str | None]:
    """Python and the installed versions of :data:`cotdiag.versions.ML_PACKAGES` (``None`` when not installed)."""
    from cotdiag.versions import ML_PACKAGES, installed_versions

    return installed_versions(ML_PACKAGES, python=True)


def build_report(meta: dict[str, Any], checkpoints: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The report dict: ``meta`` + versions + per-checkpoint summaries (records dropped)."""
    return {
        **meta,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "versions": package_versions(),
        "checkpoints": [{k: v for k, v in c.items() if k != "records"} for c in checkpoints],
    }


def json_default(o: Any) -> Any:
    """``json.dumps``'s ``default``: arrays and tensors as lists, anything else as its ``str``."""
    if hasattr(o, "tolist"):
        return o.tolist()
    return str(o)


def fmt_num(rec: Any, digits: int = 3) -> str:
    """``"0.600 [0.450, 0.730] n=50"`` for a number record; ``"–"`` when missing."""
    if not isinstance(rec, dict) or "value" not in rec:
        return "–"
    v = rec["value"]
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return f"– n={rec.get('n', 0)}"
    lo, hi = rec.get("ci95", [math.nan, math.nan])
    return f"{v:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}] n={rec.get('n', '?')}"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def display_path(text: Any) -> str:
    """``text`` with absolute paths shortened for a report others read: a path under the working
    directory becomes relative, any other absolute path keeps its last two parts (``…/run/ckpt``).

    Example:
        >>> display_path("checkpoints of /tmp/x/study/sft_k0")
        'checkpoints of …/study/sft_k0'
    """
    cwd = Path.cwd()

    def short(m: re.Match[str]) -> str:
        p = Path(m.group(0))
        try:
            return str(p.relative_to(cwd))
        except ValueError:
            return "…/" + "/".join(p.parts[-2:])

    return re.sub(r"(?<![\w.])/[^\s`()]+", short, str(text))


#: (column, key) of the faithfulness tables after early answering (docs/faithfulness.md).
FAITHFULNESS_TABLES: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("States whose CoT action parses strictly (the only ones early answering, mistake and paraphrase use)", (
        ("parseable a_c", "own_cot/parseable_rate"),)),
    ("Adding a mistake (one CoT step's entity swapped; rates over placed mistakes)", (
        ("changed (≠ a_c)", "mistake/changed_rate"), ("followed (= a2)", "mistake/followed_rate"),
        ("placed", "mistake/placed_rate"))),
    ("Paraphrase (rule-based rewrite keeping action/object tokens)", (
        ("unchanged (= a_c)", "paraphrase/unchanged_rate"), ("rewritten", "paraphrase/rewritten_rate"))),
    ("Filler tokens (CoT replaced by one '...' per word; quality = exact match with expert)", (
        ("filler quality", "filler/quality"), ("prompt quality", "filler/prompt_quality"),
        ("empty-CoT quality", "filler/empty_cot_quality"), ("filler − prompt", "filler/minus_prompt_quality"),
        ("filler − empty CoT", "filler/minus_empty_cot_quality"))),
    ("Biasing hint ('A teammate suggests: a2', a2 wrong; scored as Chen et al. 2025)", (
        ("prompt follows", "hint/prompt_follow_rate"), ("CoT follows (p)", "hint/cot_follow_rate"),
        ("CoT to other (q)", "hint/cot_changed_to_other_rate"), ("CoT acknowledges", "hint/cot_acknowledge_rate"),
        ("acknowledged when followed (raw)", "hint/acknowledged_when_followed"),
        ("normalized", "hint/faithfulness_normalized"), ("names a2", "hint/names_action_rate"),
        ("placed", "hint/placed_rate"))),
)


def faithfulness_md(cks: Sequence[dict[str, Any]]) -> list[str]:
    """The faithfulness battery's Markdown section (empty when no checkpoint ran it)."""
    cks = [c for c in cks if c.get("faithfulness")]
    if not cks:
        return []
    parts = ["\n## CoT faithfulness battery (docs/faithfulness.md; on the offline states)\n"]
    fr = sorted({k.rsplit("/", 1)[1] for c in cks for k in c["faithfulness"] if k.startswith("early/same_as_full/")},
                key=float)
    if fr:
        parts.append("\nEarly answering: share of states whose action equals the full-CoT action a_c, CoT truncated "
                     "to fraction f; AOC = area over that curve (CoT reliance)\n")
        keys = [(f"f={f}", f"early/same_as_full/{f}") for f in fr] + [("AOC (CoT reliance)", "early/aoc")]
        parts.append(_table(["checkpoint"] + [k for k, _ in keys],
                            [[c["name"]] + [fmt_num(c["faithfulness"].get(key)) for _, key in keys] for c in cks]))
    for title, keys in FAITHFULNESS_TABLES:
        if any(key in c["faithfulness"] for c in cks for _, key in keys):
            parts.append(f"\n{title}\n")
            parts.append(_table(["checkpoint"] + [k for k, _ in keys],
                                [[c["name"]] + [fmt_num(c["faithfulness"].get(key)) for _, key in keys] for c in cks]))
    return parts


def offline_md(cks: Sequence[dict[str, Any]]) -> list[str]:
    """The offline section of ``report.md``."""
    keys = [("prompt quality", "offline/prompt_quality"), ("CoT quality", "offline/cot_quality"),
            ("CoT advantage", "offline/cot_advantage"), ("consistency", "offline/consistency"),
            ("log p(a*) prompt", "offline/logp_expert_prompt_nats"), ("log p(a*) CoT", "offline/logp_expert_cot_nats")]
    return ["## Offline (held-out expert states)\n", _table(["checkpoint"] + [k for k, _ in keys], [
        [c["name"]] + [fmt_num(c.get("offline", {}).get(key), 2 if "logp" in key else 3) for _, key in keys] for c in cks])]


def conflicting_md(cks: Sequence[dict[str, Any]]) -> list[str]:
    """The conflicting-trace section of ``report.md`` (empty when no checkpoint ran it)."""
    if not any(c.get("conflicting") for c in cks):
        return []
    parts = ["\n## Conflicting traces (revision = output is a2, anchored = output is a1)\n"]
    for src in sorted({s for c in cks for s in (c.get("conflicting") or {})}):
        parts.append(f"\nSource `{src}`\n\n")
        rows = [[c["name"], f, fmt_num(r["revision_rate"]), fmt_num(r["anchored_rate"]), fmt_num(r["other_rate"])]
                for c in cks for f, r in ((c.get("conflicting") or {}).get(src) or {}).items()]
        parts.append(_table(["checkpoint", "fraction kept", "revision rate", "anchored rate", "other"], rows))
    return parts


def attribution_md(cks: Sequence[dict[str, Any]]) -> list[str]:
    """The attention and gradient mass section of ``report.md`` (empty when no checkpoint ran it)."""
    if not any(c.get("attribution") for c in cks):
        return []
    parts = ["\n## Attention and gradient mass (prompt share; action-only loss)\n"]
    keys = [("attention", "attention/prompt_share"), ("attention, no sink", "attention_no_sink/prompt_share"),
            ("top-K% in prompt", "attention/topk_prompt_share"), ("grad α·δ", "gradient/value_path_prompt_share"),
            ("grad α·δ, no sink", "gradient_no_sink/value_path_prompt_share"),
            ("grad embedding", "gradient/embedding_prompt_share"), ("attention CoT", "attention/cot_share")]
    parts.append(_table(["checkpoint"] + [k for k, _ in keys],
                        [[c["name"]] + [fmt_num((c.get("attribution") or {}).get(key)) for _, key in keys] for c in cks]))
    tok = [(c["name"], (c.get("attribution") or {}).get("attribution/mean_tokens")) for c in cks]
    if tok and tok[0][1]:
        parts.append("\nMean tokens per span: " + ", ".join(f"{k} {v:.0f}" for k, v in tok[0][1].items()) + "\n")
    return parts


def online_md(cks: Sequence[dict[str, Any]]) -> list[str]:
    """The online section of ``report.md`` (empty when no checkpoint ran it)."""
    if not any(c.get("online") for c in cks):
        return []
    keys = [("prompt success", "online/prompt/success_rate"), ("CoT success", "online/cot/success_rate"),
            ("CoT advantage (success)", "online/cot_advantage_success"), ("prompt score", "online/prompt/mean_score"),
            ("CoT score", "online/cot/mean_score"), ("CoT advantage (score)", "online/cot_advantage_score"),
            ("prompt steps", "online/prompt/mean_steps"), ("CoT steps", "online/cot/mean_steps")]
    return ["\n## Online (same task ids and seeds in both modes)\n", _table(
        ["checkpoint"] + [k for k, _ in keys],
        [[c["name"]] + [fmt_num((c.get("online") or {}).get(key)) for _, key in keys] for c in cks])]
