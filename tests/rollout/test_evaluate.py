"""``cotdiag evaluate``: records, resume after a kill, summary, CLI; on real ALFWorld games."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

import cotdiag  # noqa: F401
from cotdiag.agents import RandomPolicy
from cotdiag.cli import app
from cotdiag.error import ResultsMismatchError
from cotdiag.rollout import evaluate, summarize
from cotdiag.stats import wilson_interval

ENV = "CoTDiag-ALFWorld-v0"
KW = dict(split="valid_seen", episodes=3, seed=4, max_episode_steps=4)


class InterruptingPolicy(RandomPolicy):
    """Random policy that simulates a kill (KeyboardInterrupt) during its ``n``-th episode."""

    def __init__(self, n: int) -> None:
        super().__init__(seed=0)
        self.n, self.episodes = n, 0
        self.name = "random"

    def reset(self, seed=None):
        super().reset(seed)
        self.episodes += 1

    def act(self, observation, info):
        if self.episodes == self.n and info["step"] == 2:
            raise KeyboardInterrupt
        return super().act(observation, info)


def _lines(path):
    """Records without timings (keys ending in ``_s``), which differ from run to run."""

    def strip(d):
        if isinstance(d, dict):
            return {k: strip(v) for k, v in d.items() if not k.endswith("_s")}
        return d

    return [strip(json.loads(x)) for x in path.read_text().splitlines()]


def test_resume_after_kill_equals_uninterrupted_run(tmp_path):
    full = tmp_path / "full"
    evaluate(ENV, RandomPolicy(seed=0), full, **KW)

    part = tmp_path / "part"
    with pytest.raises(KeyboardInterrupt):
        evaluate(ENV, InterruptingPolicy(n=2), part, **KW)
    assert len(_lines(part / "episodes.jsonl")) == 1
    # a kill in the middle of writing a line leaves a truncated record: it is dropped and replayed
    with open(part / "episodes.jsonl", "a") as f:
        f.write('{"episode": 1, "task_id": "trunc')
    summary = evaluate(ENV, RandomPolicy(seed=0), part, **KW)

    assert _lines(part / "episodes.jsonl") == _lines(full / "episodes.jsonl")
    assert summary["episodes"] == 3
    # re-running a finished run plays nothing and duplicates nothing
    evaluate(ENV, RandomPolicy(seed=0), part, **KW)
    assert len(_lines(part / "episodes.jsonl")) == 3


def test_records_and_summary_content(tmp_path):
    summary = evaluate(ENV, RandomPolicy(seed=0), tmp_path, **KW)
    recs = _lines(tmp_path / "episodes.jsonl")
    assert [r["episode"] for r in recs] == [0, 1, 2]
    for r in recs:
        assert {"task_id", "task_type", "seed", "success", "score", "steps", "actions"} <= set(r)
        assert r["steps"] == len(r["actions"]) <= 4 and r["error"] is None
    assert len({r["task_id"] for r in recs}) == 3  # a run covers the split before repeating
    on_disk = json.loads((tmp_path / "summary.json").read_text())
    assert on_disk == summary
    for key in ("success_rate", "success_rate_ci95", "mean_score", "mean_steps", "episodes", "by_task_type"):
        assert key in summary
    with pytest.raises(ResultsMismatchError):
        evaluate(ENV, RandomPolicy(seed=0), tmp_path, **{**KW, "seed": 5})


def test_summarize_by_task_type_and_wilson():
    recs = [
        {"task_type": "a", "success": True, "score": 1.0, "steps": 3},
        {"task_type": "a", "success": False, "score": 0.0, "steps": 5},
        {"task_type": "b", "success": True, "score": 1.0, "steps": 2},
    ]
    s = summarize(recs)
    assert s["success_rate"] == pytest.approx(2 / 3)
    assert s["by_task_type"]["a"]["success_rate"] == 0.5
    assert s["by_task_type"]["b"]["mean_steps"] == 2.0
    assert s["success_rate_ci95"] == list(wilson_interval(2, 3))
    lo, hi = wilson_interval(8, 10)  # textbook value: (0.490, 0.943)
    assert lo == pytest.approx(0.4902, abs=1e-3) and hi == pytest.approx(0.9433, abs=1e-3)


def test_cli_evaluate_expert_prints_table_and_writes_files(tmp_path):
    out = tmp_path / "run"
    res = CliRunner().invoke(
        app, ["evaluate", "--env", ENV, "--split", "valid_unseen", "--policy", "expert",
              "--episodes", "2", "--out", str(out)],
    )
    assert res.exit_code == 0, res.output
    assert "success" in res.output and "1.000" in res.output  # the summary table
    summary = json.loads((out / "summary.json").read_text())
    assert summary["success_rate"] == 1.0 and summary["episodes"] == 2
    assert len((out / "episodes.jsonl").read_text().splitlines()) == 2


def test_resume_with_another_decoding_mode_refuses(tmp_path):
    from cotdiag.rollout.factory import DecodedEnvFactory

    kw = dict(KW, episodes=1, max_episode_steps=2)
    s = evaluate(ENV, RandomPolicy(seed=0), tmp_path, make_env=DecodedEnvFactory(ENV, "prompt", 3, 2), **kw)
    rec = json.loads((tmp_path / "episodes.jsonl").read_text().splitlines()[0])
    # the random policy's raw text has no closing tag: the wrapper parses it into the env's action
    assert len(rec["env_actions"]) == rec["steps"] == 2
    assert s["format_error_rate"] == rec["format_errors"] / 2
    with pytest.raises(ResultsMismatchError, match="make_env"):
        evaluate(ENV, RandomPolicy(seed=0), tmp_path, make_env=DecodedEnvFactory(ENV, "cot", 3, 2), **kw)
    with pytest.raises(ResultsMismatchError, match="make_env"):
        evaluate(ENV, RandomPolicy(seed=0), tmp_path, make_env=DecodedEnvFactory(ENV, "prompt", 1, 2), **kw)


def test_cli_llm_policy_without_mode_is_refused(tmp_path, capsys):
    from cotdiag.cli import main

    with pytest.raises(SystemExit) as e:
        main(["evaluate", "--env", ENV, "--policy", "hf:some/model", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert e.value.code == 1 and "needs --mode prompt or --mode cot" in err and "Traceback" not in err
    assert not (tmp_path / "episodes.jsonl").exists()


def test_cli_failed_episodes_exit_non_zero(tmp_path):
    from cotdiag.agents.registry import POLICY_FACTORIES, register_policy

    class Broken(RandomPolicy):
        down = True

        def act(self, observation, info):
            if Broken.down:
                raise ConnectionError("endpoint down")
            return super().act(observation, info)

    register_policy("broken", lambda arg, seed, **kw: Broken(seed=seed))
    args = ["evaluate", "--env", ENV, "--split", "valid_seen", "--policy", "broken", "--episodes", "3",
            "--max-steps", "2", "--out", str(tmp_path)]
    try:
        res = CliRunner().invoke(app, args)
        assert res.exit_code == 1
        assert "3 of 3 episodes failed" in res.output
        assert "  3 × ConnectionError: endpoint down" in res.output.splitlines()  # one line per failure class
        assert res.output.count("Traceback") == 0
        summary = json.loads((tmp_path / "summary.json").read_text())
        assert summary["errors"] == 3 and summary["failure_classes"] == {"ConnectionError: endpoint down": 3}
        Broken.down = False  # the endpoint is back: the re-run retries the failed episode
        res = CliRunner().invoke(app, args)
    finally:
        POLICY_FACTORIES.pop("broken")
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "summary.json").read_text())["errors"] == 0
    assert len((tmp_path / "episodes.jsonl").read_text().splitlines()) == 3
    old = [json.loads(ln) for ln in (tmp_path / "episodes.errors.jsonl").read_text().splitlines()]
    assert len(old) == 3 and all("endpoint down" in r["error"] for r in old)


def test_resume_after_a_package_upgrade_is_refused(tmp_path):
    """The run's config records the simulator and ML package versions; a resume under other versions
    would mix two setups in one run, so it is refused and names the key."""
    import json

    from cotdiag.error import ResultsMismatchError

    kw = dict(split="valid_seen", episodes=1, max_episode_steps=1)
    evaluate(ENV, RandomPolicy(seed=0), tmp_path, **kw)
    cfg = json.loads((tmp_path / "config.json").read_text())
    assert cfg["versions"]["alfworld"] and cfg["versions"]["torch"]
    cfg["versions"]["torch"] = "0.0.1"  # the run was made under another torch
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ResultsMismatchError, match="versions"):
        evaluate(ENV, RandomPolicy(seed=0), tmp_path, **kw)
