"""One option style for every command: snake_case names in help and docs, kebab-case accepted, and
``--config FILE.yaml`` on every command (``cotdiag.cli.options``; TRL's parser gives train sft|grpo the same)."""

from __future__ import annotations

import json

import pytest

from cotdiag.cli import main

TRL_COMMANDS = {"sft", "grpo"}


def _commands():
    import typer

    from cotdiag.cli import app

    def walk(cmd, path):
        subs = getattr(cmd, "commands", None)
        if subs:
            for name, sub in subs.items():
                yield from walk(sub, [*path, name])
        else:
            yield path, cmd

    return list(walk(typer.main.get_command(app), []))


def test_every_command_names_options_in_snake_case_and_takes_config():
    seen = []
    for path, cmd in _commands():
        if path[-1] in TRL_COMMANDS:  # TrlParser: --field_name, --field-name and --config (tests/test_cli.py)
            continue
        opts = [o for p in cmd.params for o in (*getattr(p, "opts", ()), *getattr(p, "secondary_opts", ()))]
        assert "--config" in opts, path
        assert [o for o in opts if o.startswith("--") and "-" in o[2:]] == [], path
        seen.append(" ".join(path))
    assert {"evaluate", "diagnose", "demo", "build-data", "train sb3", "leaderboard run", "leaderboard show"} <= set(seen)


def _evaluate(capsys, tmp_path, name, *extra):
    out = tmp_path / name
    with pytest.raises(SystemExit) as e:
        main(["evaluate", "--env", "CoTDiag-ALFWorld-v0", "--split", "valid_seen", "--policy", "random",
              "--out", str(out), *extra])
    err = capsys.readouterr().err
    return e.value.code, err, (json.loads((out / "config.json").read_text()) if (out / "config.json").is_file() else None)


def test_both_spellings_and_a_config_file_give_the_same_run(capsys, tmp_path):
    code, err, snake = _evaluate(capsys, tmp_path, "snake", "--episodes", "1", "--max_steps", "2", "--num_envs", "1")
    assert code in (0, None), err
    _, _, kebab = _evaluate(capsys, tmp_path, "kebab", "--episodes", "1", "--max-steps=2", "--num-envs", "1")
    cfg = tmp_path / "eval.yaml"
    cfg.write_text("episodes: 1\nmax-steps: 5\nnum_envs: 1\n")
    _, _, from_file = _evaluate(capsys, tmp_path, "file", "--config", str(cfg), "--max_steps", "2")  # the command line wins
    assert snake["max_episode_steps"] == 2 and snake["episodes"] == 1
    assert snake == kebab == from_file


@pytest.mark.parametrize(("text", "expected"), [("episodez: 1\n", "unknown option(s) episodez"),
                                                 ("- 1\n- 2\n", "expected a YAML mapping")])
def test_a_bad_config_file_is_a_usage_error(capsys, tmp_path, text, expected):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(text)
    code, err, written = _evaluate(capsys, tmp_path, "bad", "--config", str(cfg))
    assert code == 2 and expected in err and "Traceback" not in err and written is None


@pytest.mark.parametrize(("command", "classes", "own"), [
    (["diagnose"], ["cotdiag.pipelines.diagnose:DiagnoseJob", "cotdiag.diagnostics.sweep:DiagnoseConfig"], set()),
    (["demo"], ["cotdiag.pipelines.demo:DemoConfig"], {"out"}),
    (["evaluate"], ["cotdiag.pipelines.evaluate:EvaluateJob"], set()),
    (["build-data"], ["cotdiag.pipelines.data:DataJob"], set()),
    (["train", "sb3"], ["cotdiag.baselines.sb3:SB3Config"], {"env", "split", "out"}),
    (["leaderboard", "run"], ["cotdiag.pipelines.leaderboard:LeaderboardJob"], set()),
])
def test_options_are_derived_from_the_config_dataclasses(command, classes, own):
    """Every field of the command's config dataclasses is an option, with the field's name and help."""
    import dataclasses
    import importlib

    cmd = dict(_commands_by_path())[tuple(command)]
    params = {p.name: p for p in cmd.params if p.name != "config_file"}
    fields = {}
    for spec in classes:
        module, name = spec.split(":")
        for f in dataclasses.fields(getattr(importlib.import_module(module), name)):
            fields.setdefault(f.name, f)  # a shared field (seed) is one option with the first class's help
    assert set(params) == set(fields) | own
    for name, f in fields.items():
        assert f"--{name}" in params[name].opts, name
        assert params[name].help == f.metadata["help"], name


def _commands_by_path():
    return [(tuple(path), cmd) for path, cmd in _commands()]


def test_diagnose_builds_its_job_and_config_from_the_options(monkeypatch, tmp_path):
    """``--states`` (alias of ``--offline_states``) also bounds the conflicting-trace and attribution
    stages, comma-separated fractions and tests become tuples, ``--seed`` reaches both configs."""
    from typer.testing import CliRunner

    from cotdiag.cli import app
    from cotdiag.diagnostics.sweep import DiagnoseConfig
    from cotdiag.pipelines import diagnose as pipeline

    seen = {}

    def fake_run(job, cfg, ui=None):
        seen.update(job=job, cfg=cfg)
        return {"checkpoints": [{"offline": {}}], "plots": []}

    monkeypatch.setattr(pipeline, "run_diagnose", fake_run)
    res = CliRunner().invoke(app, ["diagnose", "--policy", "hf:some/model", "--states", "5", "--fractions", "0,1",
                                   "--tests", "early,hint", "--seed", "3", "--out", str(tmp_path), "--no_with_logprobs"])
    assert res.exit_code == 0, res.output
    job, cfg = seen["job"], seen["cfg"]
    assert job.policy == "some/model" and job.seed == 3 and job.out == tmp_path
    assert cfg == DiagnoseConfig(offline_states=5, fractions=(0.0, 1.0), faithfulness_tests=("early", "hint"), seed=3,
                                 with_logprobs=False)
    assert (cfg.conflict_states, cfg.attribution_examples) == (5, 5)


def test_a_yaml_list_fills_a_comma_separated_option(monkeypatch, tmp_path):
    from typer.testing import CliRunner

    from cotdiag.cli import app
    from cotdiag.pipelines import diagnose as pipeline

    seen = {}
    monkeypatch.setattr(pipeline, "run_diagnose", lambda job, cfg, ui=None: seen.update(cfg=cfg) or
                        {"checkpoints": [{"offline": {}}], "plots": []})
    cfg = tmp_path / "diag.yaml"
    cfg.write_text("policy: hf:some/model\nfractions: [0, 0.5, 1]\nfaithfulness_tests: [early]\nwith_logprobs: false\n")
    res = CliRunner().invoke(app, ["diagnose", "--config", str(cfg), "--out", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    assert seen["cfg"].fractions == (0.0, 0.5, 1.0) and seen["cfg"].faithfulness_tests == ("early",)
    assert seen["cfg"].with_logprobs is False
