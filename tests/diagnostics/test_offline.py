import math

import pytest

from cotdiag.diagnostics.offline import (
    action_quality,
    consistency,
    cot_advantage,
    run_offline,
    summarize_offline,
)
from tests.diagnostics.scripted import make_states, table_model


def test_known_agreement_pattern():
    states = make_states(8)
    # prompt right on states 0-5, CoT right on 2-7: quality .75 each, consistency on 2-5 (4/8).
    pm = {s["prompt"]: (s["action"] if i < 6 else "wrong") for i, s in enumerate(states)}
    cm = {s["prompt"]: (s["action"] if i >= 2 else "bad") for i, s in enumerate(states)}
    recs = run_offline(table_model(pm, cm, logp=-2.0), states)
    out = summarize_offline(recs)
    assert out["offline/prompt_quality"]["value"] == 0.75
    assert out["offline/cot_quality"]["value"] == 0.75
    assert out["offline/consistency"]["value"] == 0.5
    assert out["offline/cot_advantage"]["value"] == 0.0
    assert out["offline/prompt_quality"]["n"] == 8
    assert out["offline/logp_expert_prompt_nats"]["value"] == -2.0
    assert out["offline/logp_expert_cot_nats"]["value"] == -1.0
    assert out["offline/logp_expert_cot_minus_prompt_nats"]["value"] == 1.0
    lo, hi = out["offline/cot_advantage"]["ci95"]
    assert lo <= 0.0 <= hi


def test_cot_advantage_sign_and_ci():
    adv = cot_advantage([1] * 20, [0] * 20)
    assert adv["value"] == 1.0 and adv["ci95"] == [1.0, 1.0]
    adv = cot_advantage([1, 0] * 10, [1] * 20)
    assert adv["value"] == pytest.approx(-0.5) and adv["ci95"][1] < 0


def test_normalization_and_consistency():
    assert action_quality(["go  to desk 1 "], ["go to desk 1"])["value"] == 1.0
    assert action_quality(["Go to desk 1"], ["go to desk 1"])["value"] == 0.0  # case-sensitive default
    assert action_quality(["Go to desk 1"], ["go to desk 1"], normalize=str.lower)["value"] == 1.0
    c = consistency(["a", "b", "c"], ["a", "x", "c"])
    assert c["successes"] == 2 and c["n"] == 3 and 0 <= c["ci95"][0] <= 2 / 3 <= c["ci95"][1] <= 1
    assert math.isnan(action_quality([], [])["value"])
    with pytest.raises(ValueError):
        action_quality(["a"], [])


def test_empty_actions_never_agree():
    assert consistency(["", "a"], ["", "a"])["successes"] == 1


def test_scored_actions_pick_the_best_admissible_action_in_each_mode():
    """``action_selection="score"``: each mode's action is the admissible action the model scores highest
    after that mode's prefix (prompt: ``<action>``; CoT: the generated reasoning then ``<action>``); the
    generated actions stay in the records; a state without admissible actions keeps its generated one."""
    from cotdiag.diagnostics.prefill import PrefillModel
    from cotdiag.response.format import DEFAULT_FORMAT as F

    states = make_states(4)
    for i, s in enumerate(states):
        s["admissible_actions"] = [] if i == 3 else ["look", s["action"], "go north"]
    base = table_model({s["prompt"]: "wrong" for s in states}, {s["prompt"]: "bad" for s in states})
    seen = []

    def score(prompts, prefills, conts):  # the expert action scores -1, everything else -5
        seen.extend(zip(prompts, prefills, conts, strict=True))
        by_prompt = {s["prompt"]: s["action"] for s in states}
        return [-1.0 if c == by_prompt[p] + F.action_close else -5.0 for p, c in zip(prompts, conts, strict=True)]

    recs = run_offline(PrefillModel(complete=base.complete, score=score), states, with_logprobs=False,
                       action_selection="score")
    assert [r["prompt_action"] for r in recs] == ["act 0", "act 1", "act 2", "wrong"]
    assert [r["cot_action"] for r in recs] == ["act 0", "act 1", "act 2", "bad"]
    assert [r["prompt_action_generated"] for r in recs] == ["wrong"] * 4
    assert [r["cot_action_generated"] for r in recs] == ["bad"] * 4
    assert summarize_offline(recs)["offline/cot_quality"]["value"] == 0.75
    prefills = {f for _, f, _ in seen}
    assert prefills == {F.action_open, f"{F.think_open}because{F.think_close}{F.action_open}"}
    assert len(seen) == 2 * 3 * 3  # two modes, three states with three admissible actions each
    with pytest.raises(Exception, match="score"):
        run_offline(PrefillModel(complete=base.complete), states, with_logprobs=False, action_selection="score")
