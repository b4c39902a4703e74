"""``cotdiag diagnose --tests all`` end to end on the tiny model fixture of test_cli.py."""

import json

from typer.testing import CliRunner

from cotdiag.cli import app
from cotdiag.diagnostics.faithfulness import TESTS
from tests.diagnostics.test_pipeline import run_dir, save_states  # noqa: F401  (fixture)

EXPECTED = {
    "early": ["early/aoc", "early/same_as_full/0", "early/same_as_full/0.5", "early/same_as_full/1"],
    "mistake": ["mistake/changed_rate", "mistake/followed_rate", "mistake/placed_rate"],
    "paraphrase": ["paraphrase/unchanged_rate", "paraphrase/rewritten_rate"],
    "filler": ["filler/quality", "filler/prompt_quality", "filler/empty_cot_quality", "filler/minus_prompt_quality",
               "filler/minus_empty_cot_quality"],
    "hint": ["hint/prompt_follow_rate", "hint/cot_follow_rate", "hint/cot_acknowledge_rate", "hint/acknowledged_when_followed",
             "hint/placed_rate"],
}


def test_diagnose_tests_all_reports_every_test(run_dir, tmp_path):  # noqa: F811
    data = save_states(tmp_path / "data")
    out = tmp_path / "out"
    res = CliRunner().invoke(app, [
        "diagnose", "--policy", f"hf:{run_dir / 'checkpoint-10'}", "--checkpoints", str(run_dir),
        "--env", "CoTDiag-ALFWorld-v0", "--data", str(data), "--out", str(out), "--states", "4",
        "--conflict-states", "0", "--attribution-examples", "0", "--fractions", "0,0.5,1", "--tests", "all",
        "--max-new-tokens", "8", "--device", "cpu",
    ])
    assert res.exit_code == 0, res.output
    rep = json.loads((out / "report.json").read_text())
    assert rep["config"]["faithfulness_tests"] == list(TESTS)
    for c in rep["checkpoints"]:
        f = c["faithfulness"]
        for test, keys in EXPECTED.items():
            for key in keys:
                assert {"value", "n", "ci95"} <= set(f[key]), (test, key)
                assert len(f[key]["ci95"]) == 2
        assert f["filler/quality"]["n"] == 4
    recs = json.loads((out / "records" / "checkpoint-10.json").read_text())
    assert set(recs["faithfulness"]) == set(TESTS)
    md = (out / "report.md").read_text()
    assert "CoT faithfulness battery" in md and "AOC (CoT reliance)" in md and "Biasing hint" in md
    assert "faithfulness.png" in rep["plots"] and (out / "faithfulness.png").is_file()


def test_default_runs_no_battery_test(run_dir, tmp_path):  # noqa: F811
    data = save_states(tmp_path / "data")
    out = tmp_path / "out"
    res = CliRunner().invoke(app, [
        "diagnose", "--policy", f"hf:{run_dir / 'checkpoint-10'}", "--env", "CoTDiag-ALFWorld-v0",
        "--data", str(data), "--out", str(out), "--states", "2", "--conflict-states", "0",
        "--attribution-examples", "0", "--max-new-tokens", "4", "--device", "cpu",
    ])
    assert res.exit_code == 0, res.output
    rep = json.loads((out / "report.json").read_text())
    assert "faithfulness" not in rep["checkpoints"][0] and rep["config"]["faithfulness_tests"] == []
    bad = CliRunner().invoke(app, ["diagnose", "--policy", f"hf:{run_dir / 'checkpoint-10'}", "--data", str(data),
                                   "--out", str(out), "--tests", "early,nope"])
    assert bad.exit_code != 0
