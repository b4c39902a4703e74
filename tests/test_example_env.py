"""The worked example of docs/adding_an_env.md: a tw-make TextWorld game, outside ``cotdiag/``."""

from __future__ import annotations

import json
import re
from pathlib import Path

import gymnasium as gym
import pytest
from typer.testing import CliRunner

from cotdiag.cli import app
from cotdiag.plugins import import_user_module
from cotdiag.testing import check_text_env

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "textworld_env" / "tw_env.py"


@pytest.fixture(scope="module")
def example_module():
    return import_user_module(str(EXAMPLE))


def test_example_is_short_and_outside_the_package():
    assert len(EXAMPLE.read_text().splitlines()) < 100
    assert "cotdiag/" not in str(EXAMPLE.relative_to(EXAMPLE.parents[2]))


@pytest.mark.timeout(300)
@pytest.mark.parametrize("split", ["train", "ood"])
def test_example_passes_the_checker(example_module, split):
    env = gym.make("TextWorldExample-v0", split=split)
    check_text_env(env)
    env.close()


def test_import_is_idempotent(example_module):
    assert import_user_module(str(EXAMPLE)) is example_module


@pytest.mark.timeout(300)
def test_cli_evaluates_the_example(tmp_path, example_module):
    out = tmp_path / "run"
    args = ["evaluate", "--import", str(EXAMPLE), "--env", "TextWorldExample-v0", "--split", "ood",
            "--policy", "expert", "--episodes", "2", "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["episodes"] == 2 and summary["success_rate"] == 1.0
    # Re-running resumes: nothing is played twice.
    assert CliRunner().invoke(app, args).exit_code == 0
    assert len((out / "episodes.jsonl").read_text().splitlines()) == 2


@pytest.mark.timeout(600)
def test_example_on_the_leaderboard(tmp_path, example_module):
    here = EXAMPLE.parent
    out = tmp_path / "board"
    res = CliRunner().invoke(app, [
        "leaderboard", "run", "--import", str(EXAMPLE), "--suite", str(here / "suite.toml"),
        "--policies", str(here / "policies.toml"), "--out", str(out),
    ])
    assert res.exit_code == 0, res.output
    md = (out / "leaderboard.md").read_text()
    expert_rows = [line for line in md.splitlines() if line.startswith("| expert | TextWorldExample-v0 |")]
    assert len(expert_rows) == 2  # test (id) and ood
    # prompt success, its CI with n, CoT success, its CI with n, CoT advantage
    assert all(re.search(r"\| 100\.0 \| \[[\d.]+, 100\.0\] n=\d+ \| 100\.0 \| \[[\d.]+, 100\.0\] n=\d+ \| \+0\.0 \|", row)
               for row in expert_rows)
    assert (out / "leaderboard.html").exists()
