"""ConflictingTraceWrapper and the trace sources."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from cotdiag.response.prompt import HistoryConfig
from cotdiag.testing import make_scripted
from cotdiag.traces import (
    ALFWorldTraces,
    BFCLTraces,
    SwapTraceSource,
    TemplateTraceSource,
    TraceContext,
    truncate,
)
from cotdiag.wrappers.conflicting import ConflictingTraceWrapper
from cotdiag.wrappers.decoding import DecodingModeWrapper


def make(**kwargs):
    return ConflictingTraceWrapper(DecodingModeWrapper(make_scripted(), "cot"), **kwargs)


def rollout(env, seed, steps=3):
    _, info = env.reset(seed=seed)
    out = [(info["distractor_action"], info["trace"])]
    for _ in range(steps):
        _, _, term, trunc, info = env.step(f"{info['expert_action']}</action>")
        out.append((info["distractor_action"], info["trace"], info["anchored"], info["revised"]))
        if term or trunc:
            break
    return out


def test_injection_is_deterministic_for_a_seed():
    a, b = rollout(make(fraction=0.7), 3), rollout(make(fraction=0.7), 3)
    assert a == b
    seeds = {tuple(map(str, rollout(make(fraction=0.7), s))) for s in range(6)}
    assert len(seeds) > 1


def test_prefill_and_outcomes():
    env = make(truncation=0.5)
    _, info = env.reset(seed=0)
    assert info["injected"] and info["distractor_action"] != info["expert_action"]
    assert info["prefill"] == f"<think>{info['trace']}</think><action>"
    assert info["trace"] == truncate(info["trace_full"], 0.5)
    a2 = info["distractor_action"]
    _, _, _, _, info2 = env.step(f"{a2}</action>")
    assert info2["parse_status"] == "ok" and info2["revised"] and not info2["anchored"]
    assert info2["reasoning"] and info2["action"] == a2
    _, _, _, _, info3 = env.step(f"{info2['expert_action']}</action>")
    assert info3["anchored"] and not info3["revised"]


def test_fraction_zero_never_injects():
    env = make(fraction=0.0)
    _, info = env.reset(seed=0)
    assert not info["injected"] and info["prefill"] == ""
    _, _, _, _, info = env.step("<action>open box</action>")
    assert info["revised"] is None and info["parse_status"] == "ok"


def test_requires_cot_and_valid_args():
    with pytest.raises(ValueError, match="mode 'cot'"):
        ConflictingTraceWrapper(DecodingModeWrapper(make_scripted(), "prompt"))
    with pytest.raises(ValueError, match="expected truncation"):
        make(truncation=1.5)
    with pytest.raises(TypeError, match="expected source"):
        make(source=3)


def test_user_callable_and_swap_source():
    env = make(source=lambda ctx, action, rng: f"I think {action} is right because the box is shiny.")
    _, info = env.reset(seed=0)
    assert info["trace"].startswith("I think")
    swap = SwapTraceSource([("look", "It is dark, I should look around.", "other")])
    env = make(source=swap)
    _, info = env.reset(seed=0)
    assert info["distractor_action"] == "look" and info["trace"] == "It is dark, I should look around."
    assert swap(TraceContext("t", info={"state_key": "other"}), "look", np.random.default_rng(0)) is None


def test_truncate_units():
    assert truncate("one two three four", 0.5, "tokens") == "one two"
    assert truncate("abcdef", 0.0) == "" and truncate("abcdef", 1.0) == "abcdef"
    with pytest.raises(ValueError):
        truncate("x", 0.5, "bytes")


def test_alfworld_templates_reason_not_restate():
    ctx = TraceContext(task="put a clean mug in coffeemachine.", past_actions=["go to countertop 1"])
    trace = ALFWorldTraces()(ctx, "go to cabinet 2", np.random.default_rng(0))
    assert "mug" in trace and "countertop 1" in trace and trace != "go to cabinet 2"


def test_bfcl_templates_and_distractors():
    src = TemplateTraceSource("CoTDiag-BFCL-v0")
    ctx = TraceContext(task="What's the weather in Paris in celsius?", expert_action='get_weather(city="Paris", unit="celsius")',
                       info={"functions": [{"name": "get_forecast"}]})
    d = src.distractors(ctx, np.random.default_rng(0))
    assert d and ctx.expert_action not in d and any(x.startswith("get_forecast(") for x in d)
    trace = BFCLTraces()(ctx, d[0], np.random.default_rng(0))
    assert "weather" in trace


def test_bfcl_list_answers_keep_their_form_and_the_current_request_is_quoted():
    src = TemplateTraceSource("CoTDiag-BFCL-v0")
    ctx = TraceContext(task="first request", expert_action="[f(a=1), g(b='x')]",
                       info={"bfcl/request": "Now double it.", "bfcl/functions": ["f", "g", "h"]})
    d = src.distractors(ctx, np.random.default_rng(0))
    assert "[f(a=2), g(b='x')]" in d and "[f(a=1), g(b='X')]" in d and "[h(a=1), g(b='x')]" in d
    assert all(x.startswith("[") and x != ctx.expert_action for x in d)
    trace = BFCLTraces()(ctx, d[0], np.random.default_rng(0))
    assert "Now double it." in trace and "first request" not in trace


def test_scienceworld_distractors_swap_the_room_or_the_object():
    src = TemplateTraceSource("CoTDiag-ScienceWorld-v0")
    task = "Your task is to boil water. First, focus on the substance. The metal pot is in the kitchen."
    obs = "This room is called the kitchen. In it, you see: a thermometer, a metal pot, an oven, and a sink."
    rng = np.random.default_rng(0)
    go = src.distractors(TraceContext(task=task, observation=obs, expert_action="go to hallway"), rng)
    assert "go to kitchen" in go and "go to hallway" not in go and all(d.startswith("go to ") for d in go)
    pick = src.distractors(TraceContext(task=task, observation=obs, expert_action="pick up thermometer"), rng)
    assert {"pick up metal pot", "pick up oven", "pick up sink"} <= set(pick) and "pick up thermometer" not in pick
    assert "pick up kitchen" not in pick
    assert src.distractors(TraceContext(task=task, observation=obs, expert_action="wait1"), rng) == []
    assert src(TraceContext(task=task, observation=obs), pick[0], rng)


def test_check_env_scripted():
    check_env(make(), skip_render_check=True)


@pytest.mark.filterwarnings("ignore:.*different from the unwrapped")
def test_check_env_and_injection_on_alfworld(alfworld):
    env = ConflictingTraceWrapper(DecodingModeWrapper(alfworld, "cot", history=HistoryConfig(window=2)),
                                  truncation=0.5, seed=0)
    check_env(env, skip_render_check=True)
    _, info = env.reset(seed=1)
    assert info["injected"] and info["distractor_action"] in info["admissible_actions"]
    _, _, _, _, info = env.step(f"{info['distractor_action']}</action>")
    assert info["revised"] is True
