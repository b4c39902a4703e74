"""``cotdiag diagnose`` end to end on a tiny model and a saved dataset (no simulator needed)."""

import json

from typer.testing import CliRunner

from cotdiag.cli import app
from tests.diagnostics.test_pipeline import _states, run_dir, save_states  # noqa: F401  (fixture)


def test_diagnose_cli_writes_report(run_dir, tmp_path):  # noqa: F811
    data = save_states(tmp_path / "data")
    out = tmp_path / "out"
    res = CliRunner().invoke(app, [
        "diagnose", "--checkpoints", str(run_dir), "--policy", f"hf:{run_dir / 'checkpoint-10'}",
        "--env", "CoTDiag-ALFWorld-v0", "--split", "valid_seen", "--data", str(data), "--out", str(out),
        "--states", "4", "--conflict-states", "3", "--fractions", "0,1", "--sources", "swap",
        "--attribution-examples", "2", "--max-new-tokens", "8", "--device", "cpu",
    ])
    assert res.exit_code == 0, res.output
    rep = json.loads((out / "report.json").read_text())
    assert [c["name"] for c in rep["checkpoints"]] == ["checkpoint-2", "checkpoint-10", "checkpoint-10"]
    assert [c["step"] for c in rep["checkpoints"]] == [2, 10, None]
    assert rep["env_id"] == "CoTDiag-ALFWorld-v0" and rep["split"] == "valid_seen" and rep["seed"] == 0
    assert rep["checkpoints"][0]["offline"]["offline/consistency"]["n"] == 4
    assert list(rep["checkpoints"][0]["conflicting"]["swap"]) == ["0", "1"]
    assert (out / "report.md").is_file() and (out / "revision_vs_truncation.png").is_file()


def test_diagnose_cli_rerun_resumes_and_states_bound_every_stage(run_dir, tmp_path):  # noqa: F811
    data = save_states(tmp_path / "data")
    out = tmp_path / "out"
    cmd = ["diagnose", "--policy", f"hf:{run_dir / 'checkpoint-10'}", "--env", "CoTDiag-ALFWorld-v0",
           "--data", str(data), "--out", str(out), "--states", "3", "--fractions", "0,1", "--sources", "swap",
           "--online-episodes", "1", "--online-max-steps", "2", "--max-new-tokens", "8", "--device", "cpu"]
    first = CliRunner().invoke(app, cmd)
    assert first.exit_code == 0, first.output
    rep = json.loads((out / "report.json").read_text())
    assert rep["config"]["conflict_states"] == 3 and rep["config"]["attribution_examples"] == 3  # not 30 and 20
    assert "offline: 12 model calls planned" in first.output  # 3 states x 2 modes x (decode + score)
    again = CliRunner().invoke(app, cmd)
    assert again.exit_code == 0, again.output
    assert again.output.count("resumed from") == 4  # offline, conflicting, attribution, online
    assert rep["checkpoints"][0]["online"]["online/cot/mean_steps"]["n"] == 1  # played through DecodedEnvFactory
    rep2 = json.loads((out / "report.json").read_text())
    assert [c.pop("resumed") for c in rep2["checkpoints"]] == [["offline", "conflicting", "attribution", "online"]]
    assert [c.pop("resumed") for c in rep["checkpoints"]] == [[]]
    assert rep2["checkpoints"] == rep["checkpoints"]
    other = CliRunner().invoke(app, [*cmd[:-4], "--max-new-tokens", "9", "--device", "cpu"])
    assert other.exit_code == 1 and "different configuration (keys ['generation'])" in str(other.exception)


def test_diagnose_cli_needs_a_model(tmp_path):
    res = CliRunner().invoke(app, ["diagnose", "--out", str(tmp_path)])
    assert res.exit_code != 0


def test_exclude_data_drops_training_tasks_and_prompts_are_truncated(run_dir, tmp_path):  # noqa: F811
    from datasets import Dataset

    states = _states()
    data, train = tmp_path / "data", tmp_path / "train"
    Dataset.from_dict({k: [s[k] for s in states] for k in states[0]}).save_to_disk(str(data))
    seen = [s for s in states if s["task_id"] == "task0"]
    Dataset.from_dict({k: [s[k] for s in seen] for k in seen[0]}).save_to_disk(str(train))
    out = tmp_path / "out"
    res = CliRunner().invoke(app, [
        "diagnose", "--policy", f"hf:{run_dir / 'checkpoint-10'}", "--env", "CoTDiag-ALFWorld-v0",
        "--data", str(data), "--exclude-data", str(train), "--out", str(out), "--states", "10",
        "--conflict-states", "0", "--attribution-examples", "2", "--max-new-tokens", "4",
        "--max-prompt-tokens", "12", "--device", "cpu",
    ])
    assert res.exit_code == 0, res.output
    rep = json.loads((out / "report.json").read_text())
    assert rep["data"]["n_states"] == 4 and rep["data"]["excluded_training_tasks"] == 1
    assert rep["checkpoints"][0]["offline"]["offline/consistency"]["n"] == 4
    recs = json.loads((out / "records" / "checkpoint-10.json").read_text())
    assert {r["task_id"] for r in recs["offline"]} == {"task1", "task2"}


def test_encode_example_keeps_the_prompt_end(run_dir):  # noqa: F811
    from transformers import AutoTokenizer

    from cotdiag.diagnostics.attention import encode_example

    tok = AutoTokenizer.from_pretrained(run_dir / "checkpoint-10")
    s = _states()[0]
    full = encode_example(tok, s["prompt"], s["trace"], s["action"])
    cut = encode_example(tok, s["prompt"], s["trace"], s["action"], max_prompt_tokens=5)
    n_prompt = full.span_lengths["prompt"]
    assert n_prompt > 5 and cut.span_lengths == {**full.span_lengths, "prompt": 5}
    drop = n_prompt - 5
    assert cut.input_ids[0].tolist() == full.input_ids[0, drop:].tolist()
    assert (cut.input_ids[0, cut.action_positions] == full.input_ids[0, full.action_positions]).all()
    assert (cut.rows == cut.action_positions - 1).all()


def test_diagnose_refuses_held_out_data_of_another_protocol(run_dir, tmp_path):  # noqa: F811
    """The held-out states must be rendered as the model reads its input: a window-protocol checkpoint
    with conversation data, or a conversation checkpoint with per-state data, is refused in one line
    before any model call; the matching pair is not."""
    import shutil

    from cotdiag.response.protocol import DecodingProtocol, rendering_differences

    ck = tmp_path / "ck"
    shutil.copytree(run_dir / "checkpoint-10", ck)
    data = save_states(tmp_path / "data")  # per-state rows, no protocol file
    cmd = ["diagnose", "--policy", f"hf:{ck}", "--env", "CoTDiag-ALFWorld-v0", "--data", str(data),
           "--states", "2", "--conflict-states", "0", "--attribution-examples", "0", "--max-new-tokens", "4",
           "--device", "cpu"]
    DecodingProtocol().save(ck)  # a conversation model
    res = CliRunner().invoke(app, [*cmd, "--out", str(tmp_path / "a")])
    assert res.exit_code == 1 and "another decoding protocol" in str(res.exception)
    assert "(history differ)" in str(res.exception) and not (tmp_path / "a" / "report.json").exists()
    window = DecodingProtocol(history="window", window=3)
    window.save(ck)
    DecodingProtocol().save(data)  # conversation data for a window model
    res = CliRunner().invoke(app, [*cmd, "--out", str(tmp_path / "b")])
    assert res.exit_code == 1 and "(history differ)" in str(res.exception)
    window.replace(window=2).save(data)
    assert rendering_differences(window.replace(window=2), window) == ["window"]
    window.save(data)  # the same rendering: diagnosed
    res = CliRunner().invoke(app, [*cmd, "--out", str(tmp_path / "c")])
    assert res.exit_code == 0, res.output
