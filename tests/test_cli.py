"""The command line at its edges: bad input is one line and a non-zero exit; help fits 80 columns."""

from __future__ import annotations

import pytest

from cotdiag.cli import main

ALF = ["evaluate", "--env", "CoTDiag-ALFWorld-v0", "--episodes", "1", "--max-steps", "1"]


def _run(capsys, argv):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    return exit_info.value.code, capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (ALF + ["--split", "nope"], "InvalidConfigError: expected split in"),
        (["evaluate", "--env", "Nope-v0", "--episodes", "1"], "NameNotFound: Environment `Nope` doesn't exist"),
        (ALF + ["--env-kwarg", "bogus=1"], "InvalidConfigError: cannot make CoTDiag-ALFWorld-v0"),
        (["leaderboard", "run", "--policies", "missing.toml"], "InvalidConfigError: cannot read policies file"),
        (["leaderboard", "run", "--suite", "nosuch", "--policies", "POLICIES"], "expected a suite in"),
    ],
    ids=["split", "env-id", "env-kwarg", "policies-file", "suite"],
)
def test_user_error_is_one_line_and_exit_1(capsys, tmp_path, argv, expected):
    policies = tmp_path / "p.toml"
    policies.write_text('[[policies]]\nname = "expert"\nspec = "expert"\n')
    argv = [str(policies) if a == "POLICIES" else a for a in argv] + ["--out", str(tmp_path / "out")]
    code, err = _run(capsys, argv)
    assert code == 1
    lines = err.strip().splitlines()
    assert lines[-1].startswith("cotdiag: error: ") and expected in lines[-1], err
    assert "Traceback" not in err


def test_out_is_a_file(capsys, tmp_path):
    (tmp_path / "afile").write_text("")
    code, err = _run(capsys, ALF + ["--split", "valid_seen", "--out", str(tmp_path / "afile")])
    assert code == 1 and "cotdiag: error: FileExistsError" in err and "Traceback" not in err


def test_missing_alfworld_data(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("ALFWORLD_DATA", str(tmp_path / "nowhere"))
    code, err = _run(capsys, ALF + ["--out", str(tmp_path / "out")])
    assert code == 1 and "cotdiag: error: DataNotFoundError: no ALFWorld games" in err


@pytest.mark.parametrize("argv", [ALF + ["--max-steps", "0"], ALF + ["--backend", "nope"]])
def test_bad_option_value_is_a_usage_error(capsys, tmp_path, argv):
    code, err = _run(capsys, argv + ["--out", str(tmp_path / "out")])
    assert code == 2 and "Invalid value" in err and "Traceback" not in err


@pytest.mark.parametrize("command", [["evaluate"], ["diagnose"], ["leaderboard", "run"], ["train", "sb3"]])
def test_help_at_80_columns_keeps_every_option_name_whole(command):
    from typer.testing import CliRunner

    from cotdiag.cli import app

    res = CliRunner().invoke(app, command + ["--help"], terminal_width=80, env={"COLUMNS": "80"})
    assert res.exit_code == 0
    assert "…" not in res.output
    assert max(len(line) for line in res.output.splitlines()) <= 80
    if command == ["evaluate"]:
        assert "--history_keep_first / --no_history_keep_first" in res.output
        assert "CoTDiag-ALFWorld-v0" in res.output


def test_every_command_is_registered():
    from typer.testing import CliRunner

    from cotdiag.cli import app

    res = CliRunner().invoke(app, ["--help"])
    for command in ("evaluate", "demo", "diagnose", "train", "leaderboard"):
        assert f"  {command}" in res.output, res.output


@pytest.mark.parametrize(("command", "config_cls"), [("sft", "ActionMaskSFTConfig"), ("grpo", "ActionMaskGRPOConfig")])
def test_train_options_are_derived_from_the_config_dataclass(command, config_cls):
    """Every field of the TRL config is an option (argparse's help, choices declared)."""
    import dataclasses
    import importlib

    from typer.testing import CliRunner

    from cotdiag.cli import app

    cls = getattr(importlib.import_module(f"cotdiag.baselines.{command}"), config_cls)
    res = CliRunner().invoke(app, ["train", command, "--help"])
    assert res.exit_code == 0, res.output
    for f in dataclasses.fields(cls):
        if f.init and not f.name.startswith("_"):
            assert f"--{f.name}" in res.output, f.name
    assert "--data DATA" in res.output and "--model MODEL" in res.output
    if command == "sft":
        assert "--response_format {cot,prompt,mixed}" in res.output
    res = CliRunner().invoke(app, ["train", command, "--data", "x", "--output_dir", "y", "--response_format", "nope"])
    assert res.exit_code == 2


def test_train_sft_parses_into_the_config(tmp_path, monkeypatch):
    from cotdiag.baselines.sft import ActionMaskSFTConfig
    from cotdiag.cli import train

    seen = {}
    monkeypatch.setattr(train, "run_sft", lambda data, model, config: seen.update(data=data, model=model, config=config))
    from typer.testing import CliRunner

    from cotdiag.cli import app

    res = CliRunner().invoke(app, ["train", "sft", "--data", "d", "--model", "smollm2-135m", "--output_dir", str(tmp_path),
                                   "--action-mask-ratio", "0.3", "--learning_rate", "1e-4", "--max_steps", "7"])
    assert res.exit_code == 0, res.output
    cfg = seen["config"]
    assert isinstance(cfg, ActionMaskSFTConfig) and seen["data"] == "d" and seen["model"] == "smollm2-135m"
    assert (cfg.action_mask_ratio, cfg.learning_rate, cfg.max_steps) == (0.3, 1e-4, 7)
    assert cfg.lr_scheduler_type == "cosine" and cfg.warmup_steps == 10  # the study's defaults live in the config


def test_expert_with_a_mode_answers_in_the_response_format(tmp_path):
    """`evaluate --policy expert --mode cot` used to send the bare action through the CoT wrapper (100% format errors)."""
    import json

    from typer.testing import CliRunner

    from cotdiag.cli import app

    for mode in ("cot", "prompt"):
        out = tmp_path / mode
        res = CliRunner().invoke(app, ["evaluate", "--policy", "expert", "--mode", mode, "--split", "valid_unseen",
                                       "--episodes", "1", "--out", str(out)])
        assert res.exit_code == 0, res.output
        summary = json.loads((out / "summary.json").read_text())
        assert summary["format_error_rate"] == 0.0 and summary["success_rate"] == 1.0
        assert summary["mode"] == mode and summary["invalid_action_rate"] == 0.0  # both in summary.json
        assert "invalid actions" in res.output and "failed episodes" in res.output  # and in the table


def test_missing_model_folder_is_named(capsys, tmp_path):
    code, err = _run(capsys, ALF + ["--policy", f"hf:{tmp_path}/nope", "--mode", "cot", "--out", str(tmp_path / "o")])
    assert code == 1 and "does not exist" in err and err.count("\n") == 1


def test_a_run_that_failed_before_its_first_episode_does_not_block_the_corrected_command(capsys, tmp_path):
    out = tmp_path / "o"
    code, _ = _run(capsys, ALF + ["--split", "nope", "--out", str(out)])
    assert code == 1
    code, err = _run(capsys, ALF + ["--split", "valid_seen", "--out", str(out)])
    assert code in (0, None), err
