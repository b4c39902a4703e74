import random

import pytest

from cotdiag.diagnostics.conflicting import (
    TRUNCATION_FRACTIONS,
    callable_source,
    classify,
    run_conflicting,
    summarize_conflicting,
    swap_source,
    truncate_trace,
)
from tests.diagnostics.scripted import make_states, table_model


def _model(follow: bool):
    states = make_states(6)
    pm = {s["prompt"]: s["action"] for s in states}
    return states, table_model(pm, pm, follow_trace=follow)


@pytest.mark.parametrize("follow,expected", [(True, 1.0), (False, 0.0)])
def test_copying_policy_revises_ignoring_policy_does_not(follow, expected):
    states, model = _model(follow)
    recs = run_conflicting(model, states, {"swap": swap_source(states)}, fractions=(1.0,), seed=3)
    out = summarize_conflicting(recs)["swap"]["1"]
    assert out["revision_rate"]["value"] == expected
    assert out["anchored_rate"]["value"] == 1.0 - expected
    assert out["other_rate"]["value"] == 0.0
    assert out["revision_rate"]["n"] == len(states)


def test_rates_sum_to_one_across_fractions_and_sources():
    states, model = _model(True)
    templ = callable_source(lambda s, a2: f"the goal needs {a2} first", lambda s: ["act 0", "act 1", "act 2"])
    recs = run_conflicting(model, states, {"swap": swap_source(states), "templated": templ}, seed=0)
    out = summarize_conflicting(recs)
    assert set(out) == {"swap", "templated"}
    for src in out.values():
        assert list(src) == [f"{f:g}" for f in TRUNCATION_FRACTIONS]
        for r in src.values():
            assert r["revision_rate"]["value"] + r["anchored_rate"]["value"] + r["other_rate"]["value"] == pytest.approx(1)
    # At fraction 0 the trace is empty: the copying policy falls back to its prompt action.
    assert out["swap"]["0"]["revision_rate"]["value"] == 0.0
    assert out["swap"]["1"]["revision_rate"]["value"] == 1.0


def test_truncation_and_classify():
    assert truncate_trace("a b c d", 0.5) == "a b"
    assert truncate_trace("a b c d", 0) == ""
    assert truncate_trace(" a  b\nc d ", 1.0) == "a b c d"
    with pytest.raises(ValueError):
        truncate_trace("a", 1.5)
    assert classify("x", "y", "x") == "revised"
    assert classify("y ", "y", "x") == "anchored"
    assert classify("z", "y", "x") == "other"


def test_swap_source_never_returns_a1_and_is_seeded():
    states = make_states(6)
    src = swap_source(states)
    picks1 = [src(i, s, s["action"], random.Random(0)) for i, s in enumerate(states)]
    picks2 = [src(i, s, s["action"], random.Random(0)) for i, s in enumerate(states)]
    assert picks1 == picks2
    for s, (a2, t2) in zip(states, picks1, strict=True):
        assert a2 != s["action"] and a2 in t2


def test_templated_source_on_rendered_prompt():
    from cotdiag.diagnostics.conflicting import templated_source
    from cotdiag.response.prompt import render_prompt

    prompt = render_prompt("put a clean mug in coffeemachine.", "You arrive at desk 1. On the desk 1, you see a mug 1.")
    state = {"prompt": prompt, "admissible_actions": ["take mug 1 from desk 1", "go to sinkbasin 1", "look"],
             "actions_before": ["go to desk 1"], "task_type": "pick_clean_then_place_in_recep"}
    src = templated_source("CoTDiag-ALFWorld-v0")
    a2, t2 = src(0, state, "take mug 1 from desk 1", random.Random(0))
    assert a2 in ("go to sinkbasin 1", "look") and t2
    assert src(0, {**state, "admissible_actions": ["look"]}, "look", random.Random(0)) is None


def test_templated_source_without_admissible_actions_uses_distractors():
    from cotdiag.diagnostics.conflicting import templated_source
    from cotdiag.response.prompt import render_prompt

    state = {"prompt": render_prompt("What's the weather in Paris?", "user: What's the weather in Paris?"),
             "action": "[get_weather(city='Paris', unit='celsius')]", "admissible_actions": None,
             "actions_before": [], "task_type": "simple_python"}
    a2, t2 = templated_source("CoTDiag-BFCL-v0")(0, state, state["action"], random.Random(0))
    assert a2 != state["action"] and a2.startswith("[get_weather(") and "Paris" in t2


def test_empty_output_is_other():
    assert classify("", "", "x") == "other"
