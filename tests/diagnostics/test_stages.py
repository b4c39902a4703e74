"""A diagnose run keeps each finished stage, resumes after a kill, refuses another configuration,
and reports counts and an ETA per stage (#19 item 14)."""

from __future__ import annotations

import json

import pytest

from cotdiag.diagnostics.stages import StageProgress, StageStore, states_digest
from cotdiag.diagnostics.sweep import DiagnoseConfig, diagnose_policy
from cotdiag.error import ResultsMismatchError
from cotdiag.response.format import DEFAULT_FORMAT as F
from tests.diagnostics.scripted import make_states


class CountingPolicy:
    """Prompt mode answers the expert action, CoT mode too; a forced trace is obeyed when it names
    an action. ``die_on_forced`` raises on the first forced-trace call (a run killed mid-stage)."""

    def __init__(self, states, die_on_forced: bool = False):
        self.by_prompt = {s["prompt"]: s["action"] for s in states}
        self.calls: dict[str, int] = {"prompt": 0, "cot": 0, "forced": 0}
        self.die_on_forced = die_on_forced

    def act_batch(self, prompts, infos):
        out = []
        for p, info in zip(prompts, infos, strict=True):
            f = info["prefill"]
            if f == F.action_open:
                self.calls["prompt"] += 1
                out.append(f"{self.by_prompt[p]}{F.action_close}")
            elif f == "":
                self.calls["cot"] += 1
                out.append(f"{F.think_open}so{F.think_close}{F.action_open}{self.by_prompt[p]}{F.action_close}")
            else:
                self.calls["forced"] += 1
                if self.die_on_forced:
                    raise KeyboardInterrupt("killed")
                words = f.split()
                named = [f"act {words[k + 1]}" for k in range(len(words) - 1) if words[k] == "act"]
                out.append(f"{(named[-1].rstrip('<') if named else self.by_prompt[p])}{F.action_close}")
        return out


CFG = DiagnoseConfig(offline_states=6, conflict_states=4, fractions=(0.0, 1.0), sources=("swap",),
                     attribution_examples=0, with_logprobs=False)


def _roundtrip(x):
    return json.loads(json.dumps(x, default=str))


def test_killed_run_resumes_at_the_next_stage_with_the_same_results(tmp_path):
    states = make_states(8)
    fp = {"model": "scripted", "states": states_digest(states)}
    with pytest.raises(KeyboardInterrupt):
        diagnose_policy(CountingPolicy(states, die_on_forced=True), states, CFG,
                        store=StageStore(tmp_path / "a", fp), model_name="m")
    assert (tmp_path / "a" / "m" / "offline.json").is_file()
    assert not (tmp_path / "a" / "m" / "conflicting.json").exists()

    again = CountingPolicy(states)
    lines: list[str] = []
    resumed = diagnose_policy(again, states, CFG, store=StageStore(tmp_path / "a", fp), model_name="m",
                              progress=lines.append)
    assert again.calls["prompt"] == again.calls["cot"] == 0  # offline was read back, not rerun
    assert again.calls["forced"] > 0 and resumed["resumed"] == ["offline"]
    assert any("offline: resumed from" in ln for ln in lines)

    fresh = diagnose_policy(CountingPolicy(states), states, CFG, store=StageStore(tmp_path / "b", fp), model_name="m")
    for key in ("offline", "conflicting"):
        assert _roundtrip(resumed[key]) == _roundtrip(fresh[key])
        assert _roundtrip(resumed["records"][key]) == _roundtrip(fresh["records"][key])


def test_a_folder_of_another_configuration_is_refused(tmp_path):
    states = make_states(8)
    diagnose_policy(CountingPolicy(states), states, CFG, store=StageStore(tmp_path, {"seed": 0}), model_name="m")
    with pytest.raises(ResultsMismatchError, match="seed"):
        StageStore(tmp_path, {"seed": 1})
    StageStore(tmp_path, {"seed": 0})  # the same configuration resumes


def test_each_stage_reports_counts_and_the_offline_plan_is_exact(tmp_path):
    states = make_states(8)
    lines: list[str] = []
    diagnose_policy(CountingPolicy(states), states, CFG, progress=lines.append)
    assert "offline: 12 model calls planned" in lines  # 6 states x 2 modes, no scoring
    assert any(ln.startswith("offline: 12/12 model calls") and ln.endswith("done") for ln in lines)
    done = [ln for ln in lines if ln.startswith("conflicting: ") and ln.endswith("done")]
    assert done and int(done[0].split()[1].split("/")[0]) <= int(done[0].split()[1].split("/")[1])


def test_progress_line_gives_an_eta_only_with_a_plan():
    p = StageProgress("x", 10, lambda _s: None)
    p.t0 -= 20  # 20 s elapsed
    p.done = 4
    assert "4/10 model calls" in p.line() and "ETA 30 s" in p.line()
    q = StageProgress("y", None, lambda _s: None)
    q.done = 4
    assert "ETA" not in q.line() and "y: 4 model calls" in q.line()


class ScoringPolicy(CountingPolicy):
    """Also scores continuations (``score_batch``): the expert action highest."""

    def score_batch(self, prompts, conts, prefills=None):
        return [-1.0 if c == self.by_prompt[p] + F.action_close else -3.0 for p, c in zip(prompts, conts, strict=True)]


def test_the_offline_plan_counts_admissible_scoring(tmp_path):
    """With ``action_selection="score"`` the offline stage plans (and makes) one score call per admissible
    action in each mode, besides the two decodes; the plan equals the count."""
    import dataclasses

    states = make_states(8)
    for s in states:
        s["admissible_actions"] = ["look", s["action"]]
    lines: list[str] = []
    cfg = dataclasses.replace(CFG, action_selection="score")
    out = diagnose_policy(ScoringPolicy(states), states, cfg, progress=lines.append)
    assert "offline: 36 model calls planned" in lines  # 6 states x (2 decodes + 2 modes x 2 admissible)
    assert any(ln.startswith("offline: 36/36 model calls") and ln.endswith("done") for ln in lines)
    assert out["offline"]["offline/cot_quality"]["value"] == 1.0
