"""The intervals (now scipy.stats) reproduce the stored study reports exactly (issue #13)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from cotdiag.diagnostics.conflicting import summarize_conflicting
from cotdiag.diagnostics.offline import summarize_offline
from cotdiag.diagnostics.online import summarize_online
from cotdiag.stats import newcombe_difference_interval, wilson_interval

RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results"
REPORTS = sorted(RESULTS.glob("study_*/**/report.json"))


def _close(a, b, path=""):
    """Recursive equality with floats compared to 1e-12 (NaN equals NaN)."""
    if isinstance(a, dict):
        assert set(a) == set(b), path
        for k in a:
            _close(a[k], b[k], f"{path}/{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _close(x, y, f"{path}[{i}]")
    elif isinstance(a, float) or isinstance(b, float):
        assert (math.isnan(a) and math.isnan(b)) or abs(a - b) <= 1e-12, f"{path}: {a} != {b}"
    else:
        assert a == b, path


def test_reports_are_there():
    assert len(REPORTS) >= 8


@pytest.mark.parametrize("report_path", REPORTS, ids=lambda p: str(p.relative_to(RESULTS).parent))
def test_summaries_recomputed_from_records_equal_the_stored_report(report_path):
    report = json.loads(report_path.read_text())
    checked = 0
    for ck in report["checkpoints"]:
        records_path = report_path.parent / "records" / f"{ck['name']}.json"
        if not records_path.exists():
            continue
        records = json.loads(records_path.read_text())
        if records.get("offline"):
            _close(summarize_offline(records["offline"], seed=report["seed"]), ck["offline"], "offline")
            checked += 1
        if records.get("conflicting"):
            _close(summarize_conflicting(records["conflicting"]), ck["conflicting"], "conflicting")
        if records.get("online"):
            _close(summarize_online(records["online"], seed=report["seed"]), ck["online"], "online")
    assert checked, f"no per-item records next to {report_path}"


def test_wilson_matches_every_stored_proportion():
    n_checked = 0
    for path in REPORTS:
        stack = [json.loads(path.read_text())]
        while stack:
            node = stack.pop()
            if isinstance(node, dict):
                if {"successes", "n", "ci95"} <= set(node):
                    assert wilson_interval(node["successes"], node["n"]) == pytest.approx(node["ci95"], abs=1e-12)
                    n_checked += 1
                stack.extend(node.values())
            elif isinstance(node, list):
                stack.extend(node)
    assert n_checked > 100


def test_newcombe_reproduces_the_published_example():
    lo, hi = newcombe_difference_interval(48, 80, 56, 70)  # Newcombe (1998), Table II, method 10
    assert (round(lo, 4), round(hi, 4)) == (0.0524, 0.3339)
