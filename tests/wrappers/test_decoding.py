"""DecodingModeWrapper on the scripted env (every status x every policy) and on real ALFWorld."""

from __future__ import annotations

import pytest
from gymnasium.error import ResetNeeded
from gymnasium.utils.env_checker import check_env
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from cotdiag.response import PARSE_STATUSES, HistoryConfig
from cotdiag.testing import make_scripted
from cotdiag.wrappers.decoding import DecodingModeWrapper
from tests.response.test_parsing import CASES


@pytest.mark.parametrize("policy", ["penalize", "terminate", "pass_through"])
@pytest.mark.parametrize(("mode", "completion", "action", "reasoning", "status"), CASES)
def test_every_status_under_every_policy(policy, mode, completion, action, reasoning, status):
    env = DecodingModeWrapper(make_scripted(), mode, on_format_error=policy)
    _, info0 = env.reset(seed=0)
    assert info0["prefill"] == ("<action>" if mode == "prompt" else "")
    assert info0["parse_status"] is None
    obs, r, term, trunc, info = env.step(completion)
    assert info["parse_status"] == status
    assert info["raw_response"] == completion and info["reasoning"] == reasoning
    assert env.observation_space.contains(obs)
    if status == "ok" or policy == "pass_through":
        assert info["action"] == (action or "")
        assert info["step"] == 1
        assert not term
    else:
        assert info["action"] is None and info["step"] == 0
        assert r == pytest.approx(-0.1)
        assert term == (policy == "terminate")
        assert info["invalid_action"]
        if policy == "penalize":
            assert f"could not be parsed ({status})" in obs
            assert "You are in a small room" in obs


def test_clean_action_reaches_env_and_wins():
    env = DecodingModeWrapper(make_scripted(), "cot", show_admissible=True, chat=True,
                              history=HistoryConfig(reasoning="keep"))
    prompt, info = env.reset(seed=1)
    assert "Admissible actions: look, inventory" in prompt
    assert info["messages"][0]["role"] == "system"
    total = 0.0
    for _ in range(3):
        completion = f"<think>The next step is {info['expert_action']}.</think><action>  {info['expert_action']} </action>"
        prompt, r, term, trunc, info = env.step(completion)
        total += r
    assert term and info["won"] and total == pytest.approx(1.0)
    assert "Reasoning: The next step is open box." in prompt
    assert info["history"] == {"window": None, "max_chars": None, "reasoning": "keep", "keep_first": False,
                               "shown": 3}
    with pytest.raises(ResetNeeded):
        env.step("<action>look</action>")


def test_penalized_steps_count_toward_the_limit():
    env = DecodingModeWrapper(make_scripted(max_episode_steps=3), "cot")
    assert env.max_episode_steps is None  # no spec: no limit of its own unless given
    env = DecodingModeWrapper(make_scripted(max_episode_steps=None), "cot", max_episode_steps=3)
    env.reset(seed=0)
    outs = [env.step("no tags here") for _ in range(3)]
    assert [o[3] for o in outs] == [False, False, True]
    assert [o[4]["policy_step"] for o in outs] == [1, 2, 3]
    assert all(o[4]["step"] == 0 for o in outs)  # the env's own count: no action reached it


def test_inner_time_limit_still_truncates():
    env = DecodingModeWrapper(make_scripted(max_episode_steps=2), "prompt")
    env.reset(seed=0)
    assert not env.step("look</action>")[3]
    assert env.step("look</action>")[3]


@pytest.mark.parametrize(("kwargs", "err"), [({"mode": "fast"}, ValueError), ({"on_format_error": "ignore"}, ValueError),
                                               ({"history": 3}, TypeError), ({"max_response_length": 0}, ValueError)])
def test_bad_arguments(kwargs, err):
    with pytest.raises(err, match="expected"):
        DecodingModeWrapper(make_scripted(), **kwargs)


@pytest.mark.parametrize("mode", ["cot", "prompt"])
def test_check_env_on_scripted(mode):
    check_env(DecodingModeWrapper(make_scripted(), mode, chat=True), skip_render_check=True)


def test_step_rejects_non_str():
    env = DecodingModeWrapper(make_scripted())
    env.reset(seed=0)
    with pytest.raises(TypeError, match="expected completion of type str"):
        env.step(3)  # type: ignore[arg-type]


# ---------------------------------------------------------------- property test
TAGS = ["<think>", "</think>", "<action>", "</action>", "<action", "</act", "<<action>>", "<ACTION>"]
PIECES = st.one_of(
    st.sampled_from(TAGS),
    st.text(max_size=30),
    st.sampled_from(["look", "open box", " take key from box ", "\u202e\u0000\ud7ff", "🤖 go", "\n\t", "é" * 5]),
)
RESPONSES = st.one_of(st.text(max_size=200), st.lists(PIECES, max_size=12).map("".join))
MEGABYTE = "<think>" + "é" * 1_000_000 + "</think><action>look</action>"
_ENVS = {(m, p): DecodingModeWrapper(make_scripted(max_episode_steps=5), m, on_format_error=p)
         for m in ("cot", "prompt") for p in ("penalize", "terminate", "pass_through")}
COUNT = {"n": 0}


@settings(max_examples=10_000, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(response=RESPONSES, mode=st.sampled_from(["cot", "prompt"]),
       policy=st.sampled_from(["penalize", "terminate", "pass_through"]))
@example(response=MEGABYTE, mode="cot", policy="penalize")
@example(response="<action>" * 200_000, mode="prompt", policy="pass_through")
@example(response="x" * 1_048_576, mode="cot", policy="terminate")
@example(response="<action>" + "a" * 200_000 + "</action>", mode="cot", policy="pass_through")
def test_random_responses_never_raise(response, mode, policy):
    env = _ENVS[(mode, policy)]
    if env._done:
        env.reset(seed=COUNT["n"])
    COUNT["n"] += 1
    obs, r, term, trunc, info = env.step(response)
    assert info["parse_status"] in PARSE_STATUSES
    assert isinstance(r, float) and isinstance(obs, str)
    assert (info["action"] is None) == (info["parse_status"] != "ok" and policy != "pass_through")
    if info["action"] is not None:
        assert len(info["action"]) <= 100_000


def test_property_count():
    assert COUNT["n"] >= 10_000 or COUNT["n"] == 0  # 0 when run alone with -k


# ---------------------------------------------------------------- real ALFWorld
@pytest.mark.filterwarnings("ignore:.*different from the unwrapped")
def test_check_env_on_alfworld(alfworld):
    env = DecodingModeWrapper(alfworld, "cot", show_admissible=True, history=HistoryConfig(window=5))
    check_env(env, skip_render_check=True)


def test_alfworld_expert_through_prompt_mode(alfworld):
    env = DecodingModeWrapper(alfworld, "prompt", history=HistoryConfig(window=3))
    prompt, info = env.reset(seed=0)
    assert info["task"] in prompt and env.max_episode_steps == 50
    obs, r, term, trunc, info = env.step(f"  {info['expert_action']}</action>")
    assert info["parse_status"] == "ok" and not info["invalid_action"]
    obs, r, term, trunc, info = env.step("<think>hmm</think>look</action>")
    assert info["parse_status"] == "reasoning_in_prompt_mode" and r == pytest.approx(-0.1)
    assert info["policy_step"] == 2 and info["step"] == 1
