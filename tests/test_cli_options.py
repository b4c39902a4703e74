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
