"""Leaderboard tables: Markdown, a static HTML page with a sortable table, and a PNG plot.

One row per (policy, env, split, environment versions). Columns (units in the names):

================================ ==============================================================
column                           definition
================================ ==============================================================
``prompt success (%)``           episodes won in prompt mode / episodes, x100
``CoT success (%)``              the same in CoT mode
``prompt success 95% CI``       Wilson 95% interval of the prompt success, in percent
                                 (:func:`cotdiag.stats.wilson_interval`), with its n (episodes);
                                 every interval cell ends with the n it rests on
``CoT success 95% CI``          the same for CoT success
``CoT advantage (pp)``           CoT success - prompt success, in percentage points
                                 (docs/concepts.md, online CoT advantage; arXiv 2606.26935)
``CoT advantage 95% CI (pp)``   Newcombe's hybrid score interval of that difference
                                 (:func:`cotdiag.stats.newcombe_difference_interval`; it ignores
                                 the pairing of the two modes' episodes, so it is conservative)
``revision rate (%)``            steps where the CoT action differs from the prompt action on the
                                 same state (``info["stats/revised"]`` summed, reported by
                                 policies that decode both modes) / CoT steps; ``—`` when not
                                 reported
``revision rate n (CoT steps)``  the CoT steps that revision rate divides by
``CoT reliance (AOC)``           early-answering area over the curve of the faithfulness battery
                                 (Lanham et al. 2023; docs/faithfulness.md): 0 = the action never
                                 depends on the CoT. Not measured by the leaderboard's episodes: read
                                 from ``DIR/diagnose/<policy>/report.json`` (a ``cotdiag diagnose
                                 --faithfulness_tests early`` report of that policy on the row's env and split,
                                 last checkpoint); ``—`` when there is none. It is the column the
                                 ``faithfulness`` diagnostic offers; every registered diagnostic's
                                 ``columns`` are added here the same way
                                 (:mod:`cotdiag.diagnostics.registry`)
``CoT reliance 95% CI``          its bootstrap 95% interval over states, same source
``invalid format (% steps)``     steps whose response did not parse (``parse_status != "ok"``),
                                 both modes
``tokens/step``                  generated tokens (``stats/tokens``) / steps; ``—`` when not
                                 reported (non-LLM policies)
``latency (ms/step)``            time in ``policy.act`` / steps, in milliseconds
``suite``                        the suite and its version (``name@vN``)
``versions``                     the simulator packages' versions (``package version``, ...)
================================ ==============================================================
"""

from __future__ import annotations

import functools
import json
import logging
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import jinja2

from cotdiag.error import RunNotFoundError
from cotdiag.leaderboard.store import ResultStore
from cotdiag.stats import newcombe_difference_interval, wilson_interval

logger = logging.getLogger(__name__)

#: (key, column title, format) of the table, in order.
COLUMNS: list[tuple[str, str, str]] = [
    ("policy", "policy", "s"),
    ("env_id", "env", "s"),
    ("split", "split", "s"),
    ("domain", "domain", "s"),
    ("episodes", "episodes (all modes)", "d"),
    ("prompt_success_pct", "prompt success (%)", ".1f"),
    ("prompt_success_ci95", "prompt success 95% CI", "s"),
    ("cot_success_pct", "CoT success (%)", ".1f"),
    ("cot_success_ci95", "CoT success 95% CI", "s"),
    ("cot_advantage_pp", "CoT advantage (pp)", "+.1f"),
    ("cot_advantage_ci95_pp", "CoT advantage 95% CI (pp)", "s"),
    ("revision_rate_pct", "revision rate (%)", ".1f"),
    ("revision_steps", "revision rate n (CoT steps)", "d"),
    # the columns the registered diagnostics offer go here (table_columns)
    ("invalid_format_pct", "invalid format (% steps)", ".1f"),
    ("tokens_per_step", "tokens/step", ".1f"),
    ("latency_ms_per_step", "latency (ms/step)", ".2f"),
    ("suite", "suite", "s"),
    ("versions", "versions", "s"),
]


def _pct(num: float | None, den: float) -> float | None:
    return None if num is None or not den else 100.0 * num / den


def _ci_text(lo: float, hi: float, n: str, signed: bool = False) -> str:
    """``"[12.0, 40.1] n=30"``: the interval in percent (points) and the count it rests on."""
    f = "+.1f" if signed else ".1f"
    return f"[{format(100 * lo, f)}, {format(100 * hi, f)}] n={n}"


def versions_text(versions: dict[str, Any]) -> str:
    """``{"alfworld": "0.4.2", ...}`` -> ``"alfworld 0.4.2, ..."`` (packages not installed are left out).

    Example:
        >>> versions_text({"textworld": "1.7.0", "alfworld": "0.4.2", "scienceworld": None})
        'alfworld 0.4.2, textworld 1.7.0'
    """
    return ", ".join(f"{k} {v}" for k, v in sorted(versions.items()) if v)


def diagnostic_columns() -> list[Any]:
    """The leaderboard columns of the registered diagnostics
    (:class:`cotdiag.diagnostics.registry.LeaderboardColumn`), with the diagnostic's name:
    ``[(diagnostic name, column), ...]``."""
    from cotdiag.diagnostics.registry import registered

    return [(d.name, c) for d in registered() for c in d.columns]


def table_columns() -> list[tuple[str, str, str]]:
    """(key, title, format) of the table: :data:`COLUMNS` with the registered diagnostics' value and
    interval columns after the revision rate."""
    extra = [x for _, c in diagnostic_columns() for x in ((c.key, c.title, c.fmt), (c.ci_key, c.ci_title, "s"))]
    at = [k for k, _, _ in COLUMNS].index("revision_steps") + 1
    return COLUMNS[:at] + extra + COLUMNS[at:]


#: Where :func:`load_diagnostics` finds diagnose reports: ``DIR/diagnose/<policy>/report.json``.
DIAGNOSE_DIR = "diagnose"


def load_diagnostics(out_dir: str | Path) -> dict[tuple[str, str, str], dict[str, Any]]:
    """Diagnostic cells ``{(policy, env_id, split): {row key: value or interval text}}`` from diagnose reports.

    Each ``out_dir/diagnose/<policy>/report.json`` (written by ``cotdiag diagnose --out ...``) gives,
    for every column a registered diagnostic offers (:func:`diagnostic_columns`), the record of its
    last checkpoint that has one, keyed by the folder name and the report's ``env_id`` and
    ``split``. Unreadable reports are skipped (see :func:`report_notes`).
    """
    out: dict[tuple[str, str, str], dict[str, Any]] = {}
    for path, rep in _diagnose_reports(out_dir):
        cells = report_cells(rep) if isinstance(rep, dict) else None
        if cells:
            out[(path.parent.name, str(rep.get("env_id")), str(rep.get("split")))] = cells
    return out


def _diagnose_reports(out_dir: str | Path) -> list[tuple[Path, dict[str, Any] | Exception]]:
    """``(path, report)`` of each ``out_dir/diagnose/*/report.json``, sorted; an unreadable one gives
    its exception instead of the report."""
    found: list[tuple[Path, dict[str, Any] | Exception]] = []
    for path in sorted(Path(out_dir, DIAGNOSE_DIR).glob("*/report.json")):
        try:
            found.append((path, json.loads(path.read_text())))
        except (OSError, json.JSONDecodeError) as e:
            found.append((path, e))
    return found


def report_cells(rep: dict[str, Any]) -> dict[str, Any]:
    """The leaderboard cells one diagnose report offers: per registered column, the value and
    ``"[lo, hi] n=N"`` interval of the last checkpoint whose record has ``n > 0``."""
    cells: dict[str, Any] = {}
    for name, col in diagnostic_columns():
        recs = [(c.get(name) or {}).get(col.stat) for c in rep.get("checkpoints", [])]
        recs = [r for r in recs if isinstance(r, dict) and r.get("n")]
        value, ci = _record_cells(recs[-1] if recs else None)
        if value is not None:
            cells[col.key], cells[col.ci_key] = value, ci
    return cells


def report_notes(out_dir: str | Path, rows: list[dict[str, Any]]) -> list[str]:
    """One note per diagnose report under ``out_dir/diagnose/`` that feeds no row: unreadable, with
    no number a leaderboard column shows, or for a (policy, env, split) the leaderboard did not play."""
    keys = {(r["policy"], r["env_id"], r["split"]) for r in rows}
    wanted = ", ".join(f"{n}/{c.stat}" for n, c in diagnostic_columns())
    notes = []
    for path, rep in _diagnose_reports(out_dir):
        rel = path.relative_to(out_dir)
        if isinstance(rep, Exception):
            notes.append(f"diagnose report {rel} ignored: unreadable ({type(rep).__name__})")
            continue
        key = (path.parent.name, str(rep.get("env_id")), str(rep.get("split")))
        if not report_cells(rep):
            notes.append(f"diagnose report {rel} ignored: none of the leaderboard's diagnostic numbers ({wanted}; "
                         "e.g. run diagnose with --faithfulness_tests early for the CoT reliance)")
        elif key not in keys:
            notes.append(f"diagnose report {rel} ignored: policy {key[0]!r} on {key[1]} {key[2]} matches no row "
                         "(the folder must be named as the policy and the report made on the row's env and split)")
    return notes


def _record_cells(rec: dict[str, Any] | None) -> tuple[float | None, str | None]:
    if not rec or rec.get("value") is None or math.isnan(rec["value"]):
        return None, None
    lo, hi = rec.get("ci95", [math.nan, math.nan])
    return float(rec["value"]), f"[{lo:.3f}, {hi:.3f}] n={rec.get('n')}"


def leaderboard_rows(cells: list[dict[str, Any]],
                     diagnostics: dict[tuple[str, str, str], dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Merge the per-mode cells of :meth:`ResultStore.cells` into table rows (see module docstring).

    ``diagnostics``: optional diagnostic cells per ``(policy, env_id, split)`` (see
    :func:`load_diagnostics`); a row without one shows ``—`` in those columns.
    """
    groups: dict[tuple, dict[str, dict[str, Any]]] = defaultdict(dict)
    for c in cells:
        groups[(c["policy"], c["env_id"], c["split"], c["domain"], c["versions_hash"], c["config_hash"])][c["mode"]] = c
    rows = []
    for (policy, env_id, split, domain, vhash, _), modes in groups.items():
        p, c = modes.get("prompt"), modes.get("cot")
        all_cells = list(modes.values())
        steps = sum(x["steps"] for x in all_cells)
        tokens = [x["tokens"] for x in all_cells if x["tokens"] is not None]
        ps = _pct(p["successes"], p["episodes"]) if p else None
        cs = _pct(c["successes"], c["episodes"]) if c else None
        versions = json.loads(all_cells[0]["versions"])
        diag = {k: None for _, c in diagnostic_columns() for k in (c.key, c.ci_key)}
        diag.update((diagnostics or {}).get((policy, env_id, split), {}))
        rows.append({
            "policy": policy, "env_id": env_id, "split": split, "domain": domain,
            "episodes": sum(x["episodes"] for x in all_cells),
            "prompt_success_pct": ps, "cot_success_pct": cs,
            "prompt_success_ci95": _ci_text(*wilson_interval(p["successes"], p["episodes"]), str(p["episodes"])) if p else None,
            "cot_success_ci95": _ci_text(*wilson_interval(c["successes"], c["episodes"]), str(c["episodes"])) if c else None,
            "cot_advantage_pp": cs - ps if ps is not None and cs is not None else None,
            "cot_advantage_ci95_pp": _ci_text(*newcombe_difference_interval(
                p["successes"], p["episodes"], c["successes"], c["episodes"]), f"{p['episodes']}+{c['episodes']}",
                signed=True) if p and c else None,
            "revision_rate_pct": _pct(c["revised"], c["steps"]) if c else None,
            "revision_steps": c["steps"] if c and c["revised"] is not None else None,
            **diag,
            "invalid_format_pct": _pct(sum(x["format_errors"] for x in all_cells), steps),
            "tokens_per_step": sum(tokens) / steps if tokens and steps else None,
            "latency_ms_per_step": 1000.0 * sum(x["policy_time_s"] or 0.0 for x in all_cells) / steps if steps else None,
            "suite": all_cells[0]["suite"],
            "versions": versions_text(versions),
            "versions_hash": vhash,
            "versions_detail": versions,
        })
    rows.sort(key=lambda r: (r["env_id"], r["domain"], r["split"], -(r["cot_success_pct"] or 0.0), r["policy"]))
    return rows


#: Columns of the per-policy summary (mean over the envs of each domain).
SUMMARY_COLUMNS: list[tuple[str, str, str]] = [
    ("policy", "policy", "s"),
    ("id_prompt_success_pct", "ID prompt success (%)", ".1f"),
    ("id_cot_success_pct", "ID CoT success (%)", ".1f"),
    ("id_cot_advantage_pp", "ID CoT advantage (pp)", "+.1f"),
    ("ood_prompt_success_pct", "OOD prompt success (%)", ".1f"),
    ("ood_cot_success_pct", "OOD CoT success (%)", ".1f"),
    ("ood_cot_advantage_pp", "OOD CoT advantage (pp)", "+.1f"),
]


def policy_summary(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per policy, the unweighted mean over (env, split) rows of each domain (``None`` if no row)."""
    out = []
    for policy in sorted({r["policy"] for r in rows}):
        s: dict[str, Any] = {"policy": policy}
        for dom in ("id", "ood"):
            for key in ("prompt_success_pct", "cot_success_pct", "cot_advantage_pp"):
                vals = [r[key] for r in rows if r["policy"] == policy and r["domain"] == dom and r[key] is not None]
                s[f"{dom}_{key}"] = sum(vals) / len(vals) if vals else None
        out.append(s)
    return out


def _fmt(value: Any, fmt: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return format(value, fmt) if fmt != "s" else str(value)


def to_markdown(rows: list[dict[str, Any]], columns: list[tuple[str, str, str]] | None = None) -> str:
    """A GitHub Markdown table of ``rows`` (default columns: :func:`table_columns`)."""
    columns = table_columns() if columns is None else columns
    lines = ["| " + " | ".join(t for _, t, _ in columns) + " |",
             "|" + "|".join("---" if f == "s" else "---:" for *_, f in columns) + "|"]
    for r in rows:
        lines.append("| " + " | ".join(_fmt(r[k], f) for k, _, f in columns) + " |")
    return "\n".join(lines) + "\n"


def _raw_value(value: Any, fmt: str) -> str:
    """The sortable ``data-value`` of a cell: ``""`` for missing, the text, or the float's repr."""
    return "" if value is None else (str(value) if fmt == "s" else repr(float(value)))


@functools.cache
def _template() -> jinja2.Template:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("cotdiag.leaderboard", "templates"),
        autoescape=True, undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
    )
    env.filters.update(cell=_fmt, raw_value=_raw_value)
    return env.get_template("leaderboard.html.j2")


def to_html(rows: list[dict[str, Any]], *, title: str, plot: str | None, notes: list[str]) -> str:
    """A self-contained HTML page: sortable table (click a header, or ``#sort=KEY&dir=asc``).

    Rendered from ``cotdiag/leaderboard/templates/leaderboard.html.j2`` (jinja2, autoescaped, so any
    policy or env name is shown as text).
    """
    return _template().render(
        rows=rows, summary=policy_summary(rows), columns=table_columns(), summary_columns=SUMMARY_COLUMNS,
        title=title, plot=plot, notes=notes,
    )


def plot_cot_advantage(rows: list[dict[str, Any]], path: Path) -> bool:
    """Bar chart of the mean CoT advantage (pp) per policy, in-domain vs out-of-domain.

    Returns:
        ``False`` (and writes nothing) when no row has a CoT advantage.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    data: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        if r["cot_advantage_pp"] is not None:
            data[r["policy"]][r["domain"]].append(r["cot_advantage_pp"])
    if not data:
        return False
    policies = sorted(data)
    x = np.arange(len(policies))
    fig, ax = plt.subplots(figsize=(max(4, 1.4 * len(policies) + 2), 3.5))
    for off, dom, color in ((-0.2, "id", "#4c72b0"), (0.2, "ood", "#dd8452")):
        vals = [float(np.mean(data[p][dom])) if data[p][dom] else 0.0 for p in policies]
        ax.bar(x + off, vals, width=0.4, label="in-domain" if dom == "id" else "out-of-domain", color=color)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(x, policies, rotation=20, ha="right")
    ax.set_ylabel("CoT advantage (pp)")
    ax.set_title("CoT success - prompt success, mean over envs")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def render(out_dir: str | Path) -> dict[str, Path]:
    """Write ``leaderboard.md``, ``leaderboard.html`` and ``cot_advantage.png`` in ``out_dir``.

    Returns:
        ``{"markdown": path, "html": path, "plot": path}`` (``plot`` absent without data).

    Raises:
        FileNotFoundError: ``out_dir`` holds no ``leaderboard.sqlite``.
    """
    from cotdiag.leaderboard.run import DB_NAME

    out = Path(out_dir)
    db = out / DB_NAME
    if not db.exists():
        raise RunNotFoundError(f"no {DB_NAME} in {out} (run `cotdiag leaderboard run --out {out}` first)")
    with ResultStore(db) as store:
        rows = leaderboard_rows(store.cells(), load_diagnostics(out))
    notes = []
    status = out / "status.json"
    if status.exists():
        st = json.loads(status.read_text())
        notes = [f"{c['policy']} / {c['env_id']} {c['split']} / {c['mode']}: {c['status']} ({c['reason']})"
                 for c in st.get("cells", []) if c["status"] != "done"]
    ignored = report_notes(out, rows)
    for n in ignored:
        logger.warning("%s", n)
    paths = {"markdown": out / "leaderboard.md", "html": out / "leaderboard.html"}
    plot = out / "cot_advantage.png"
    has_plot = plot_cot_advantage(rows, plot)
    if has_plot:
        paths["plot"] = plot
    md = ("# Leaderboard\n\n" + to_markdown(rows) + "\n## In-domain vs out-of-domain, per policy\n\n"
          + to_markdown(policy_summary(rows), SUMMARY_COLUMNS))
    if notes:
        md += "\nNot run:\n\n" + "".join(f"- {n}\n" for n in notes)
    if ignored:
        md += "\nDiagnose reports not shown:\n\n" + "".join(f"- {n}\n" for n in ignored)
    notes = notes + ignored
    if has_plot:
        md += "\n![CoT advantage per policy](cot_advantage.png)\n"
    paths["markdown"].write_text(md)
    suites = sorted({r["suite"] for r in rows})
    title = "CoTDiag leaderboard" + (f" ({', '.join(suites)})" if suites else "")
    paths["html"].write_text(to_html(rows, title=title, plot=plot.name if has_plot else None, notes=notes))
    return paths
