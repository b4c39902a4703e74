import gymnasium as gym

from cotdiag.diagnostics.online import run_online, summarize_online


class CoinEnv(gym.Env):
    """One-step env over 4 tasks: action 'win' wins (the prompt says which mode it is in)."""

    observation_space = gym.spaces.Text(100)
    action_space = gym.spaces.Text(100)

    def __init__(self, mode):
        self.mode = mode
        self.task_ids = ["a", "b", "c", "d"]

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.task = options["task_id"]
        return f"{self.mode}:{self.task}", {"task_type": "t", "won": False, "score": 0.0}

    def step(self, action):
        won = action == "win"
        return "", float(won), True, False, {"task_type": "t", "won": won, "score": float(won)}


class Scripted:
    name = "scripted"

    def reset(self, seed=None):
        pass

    def act(self, obs, info):
        mode, task = obs.split(":")
        return "win" if (mode == "cot" or task in "ab") else "lose"


def test_same_plan_and_known_gap():
    recs = run_online(CoinEnv, Scripted(), episodes=8, seed=1)
    assert [(r["task_id"], r["seed"]) for r in recs["prompt"]] == [(r["task_id"], r["seed"]) for r in recs["cot"]]
    out = summarize_online(recs)
    assert out["online/cot/success_rate"]["value"] == 1.0
    assert out["online/prompt/success_rate"]["value"] == 0.5
    assert out["online/cot_advantage_success"]["value"] == 0.5
    assert out["online/cot_advantage_success"]["n"] == 8
    lo, hi = out["online/cot_advantage_success"]["ci95"]
    assert 0.0 < lo <= 0.5 <= hi <= 1.0
    assert out["online/prompt/mean_steps"]["value"] == 1.0


def test_plan_draws_only_from_given_task_ids():
    recs = run_online(CoinEnv, Scripted(), episodes=6, seed=0, task_ids=["b", "d"])
    for mode in ("prompt", "cot"):
        assert {r["task_id"] for r in recs[mode]} == {"b", "d"}


def test_empty_task_pool_is_a_config_error():
    import pytest

    from cotdiag.error import InvalidConfigError

    with pytest.raises(InvalidConfigError):
        run_online(CoinEnv, Scripted(), episodes=2, task_ids=[])


def test_report_table_shows_success_score_and_advantage():
    from cotdiag.diagnostics.outputs import render_markdown
    from cotdiag.diagnostics.report import build_report

    online = summarize_online(run_online(CoinEnv, Scripted(), episodes=8, seed=1))
    report = build_report({"model": "scripted", "env_id": "coin", "split": "s", "seed": 1},
                          [{"name": "final", "step": None, "offline": {}, "online": online}])
    md = render_markdown(report)
    row = next(line for line in md.splitlines() if line.startswith("| final") and "n=8" in line)
    assert "CoT advantage (score)" in md and "prompt score" in md
    assert row.count("0.500") >= 3 and "1.000" in row  # prompt success/score 0.5, advantages 0.5, CoT 1.0


def test_report_names_no_path_outside_the_repository():
    from cotdiag.diagnostics.outputs import render_markdown
    from cotdiag.diagnostics.report import build_report

    meta = {"model": "checkpoints of /tmp/abc/study/sft_k0", "checkpoints_dir": "/tmp/abc/study/sft_k0",
            "env_id": "coin", "split": "s", "seed": 1, "data": {"n_states": 3, "source": "/tmp/abc/data_s"},
            "config": {"offline_states": 2, "conflict_states": 1, "attribution_examples": 1, "online_episodes": 0}}
    md = render_markdown(build_report(meta, [{"name": "final", "step": None, "offline": {}}]))
    assert "/tmp/" not in md and "PAPER.md" not in md
    assert "…/study/sft_k0" in md and "docs/concepts.md" in md
    assert "available: 3" in md and "offline 2, conflicting 1" in md  # the header says what the tables use
