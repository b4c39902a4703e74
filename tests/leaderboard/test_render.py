"""The HTML leaderboard, rendered by headless Chromium and checked through the DOM."""

from __future__ import annotations

import json
import shutil
import subprocess
from html.parser import HTMLParser

import pytest

from cotdiag.leaderboard.render import render, table_columns
from cotdiag.leaderboard.store import ResultStore
from tests.leaderboard.test_store import cell, write_run

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture()
def board(tmp_path):
    """Three policies, prompt and CoT modes, one in-domain and one OOD split."""
    with ResultStore(tmp_path / "leaderboard.sqlite") as st:
        for policy, (p_ok, c_ok) in {"alpha": (1, 3), "beta": (2, 2), "gamma": (0, 4)}.items():
            for domain, split in (("id", "seen"), ("ood", "unseen")):
                for mode, ok in (("prompt", p_ok), ("cot", c_ok)):
                    d = tmp_path / "runs" / policy / f"{split}_{mode}"
                    write_run(d, ok, success=True)
                    with open(d / "episodes.jsonl", "a") as f:  # pad to 4 episodes with failures
                        for i in range(ok, 4):
                            f.write(json.dumps({"episode": i, "seed": i, "success": False, "score": 0.0,
                                                "steps": 5, "format_errors": 0, "policy_time_s": 0.01}) + "\n")
                    st.index_run(d, cell(mode, {"v": "1"}, policy=policy, split=split, domain=domain))
    return tmp_path


def test_markdown_and_files(board):
    paths = render(board)
    md = paths["markdown"].read_text()
    assert "CoT advantage (pp)" in md and "latency (ms/step)" in md
    assert md.count("\n| gamma | E-v0 ") == 2
    assert "| gamma | 0.0 | 100.0 | +100.0 | 0.0 | 100.0 | +100.0 |" in md  # ID vs OOD per policy
    assert paths["plot"].stat().st_size > 1000


class _Table(HTMLParser):
    """Collect the text of the leaderboard table's header and body cells."""

    def __init__(self) -> None:
        super().__init__()
        self.head: list[str] = []
        self.rows: list[list[str]] = []
        self._in: str | None = None
        self._table = False
        self.sort: tuple[str | None, str | None] = (None, None)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self._table = a.get("id") == "leaderboard"
            if self._table:
                self.sort = (a.get("data-sort-key"), a.get("data-sort-dir"))
        if not self._table:
            return
        if tag == "tr":
            self.rows.append([])
        if tag in ("th", "td"):
            self._in = tag
            (self.head if tag == "th" else self.rows[-1]).append("")

    def handle_endtag(self, tag):
        if tag == "table":
            self._table = False
        if tag in ("th", "td"):
            self._in = None

    def handle_data(self, data):
        if self._in == "th":
            self.head[-1] += data
        elif self._in == "td":
            self.rows[-1][-1] += data


def dump_dom(url: str, tmp_path) -> str:
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run",
           f"--user-data-dir={tmp_path / 'chrome-profile'}", "--virtual-time-budget=3000", "--dump-dom", url]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True).stdout


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium; `make test` installs it)")
@pytest.mark.timeout(300)
def test_html_table_sorts_in_chromium(board, tmp_path):
    page = render(board)["html"]
    dom = dump_dom(f"{page.as_uri()}#sort=cot_advantage_pp&dir=desc", tmp_path)
    t = _Table()
    t.feed(dom)
    assert t.sort == ("cot_advantage_pp", "desc"), "the page's script did not run"
    assert [h.strip() for h in t.head] == [title for _, title, _ in table_columns()]
    body = [r for r in t.rows if r and len(r) == len(table_columns())]
    assert len(body) == 6
    col = [title for _, title, _ in table_columns()].index("CoT advantage (pp)")
    adv = [float(r[col]) for r in body]
    assert adv == sorted(adv, reverse=True) and adv[0] == 100.0  # gamma: 0/4 -> 4/4
    assert body[0][0] == "gamma" and body[-1][0] == "beta"
    # Ascending by policy name (a text column).
    t2 = _Table()
    t2.feed(dump_dom(f"{page.as_uri()}#sort=policy&dir=asc", tmp_path))
    names = [r[0] for r in t2.rows if r and len(r) == len(table_columns())]
    assert names == sorted(names)


def test_rows_carry_intervals_suite_and_readable_versions(board):
    from cotdiag.leaderboard.render import leaderboard_rows
    from cotdiag.stats import newcombe_difference_interval, wilson_interval

    with ResultStore(board / "leaderboard.sqlite") as st:
        rows = leaderboard_rows(st.cells())
    gamma = next(r for r in rows if r["policy"] == "gamma" and r["split"] == "seen")
    lo, hi = wilson_interval(4, 4)
    assert gamma["cot_success_ci95"] == f"[{100 * lo:.1f}, {100 * hi:.1f}] n=4"  # every interval shows its n
    lo, hi = newcombe_difference_interval(0, 4, 4, 4)
    assert gamma["cot_advantage_ci95_pp"] == f"[{100 * lo:+.1f}, {100 * hi:+.1f}] n=4+4" and lo > 0
    assert gamma["versions"] == "v 1" and gamma["suite"]
    md = render(board)["markdown"].read_text()
    assert "CoT advantage 95% CI (pp)" in md and gamma["cot_advantage_ci95_pp"] in md
    assert gamma["suite"] in render(board)["html"].read_text()
