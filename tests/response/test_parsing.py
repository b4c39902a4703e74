"""Every parse status from a hand-written response (see cotdiag.response.parsing)."""

from __future__ import annotations

import pytest

from cotdiag.response import (
    PARSE_STATUSES,
    ActionNormalization,
    ResponseFormat,
    normalization_for,
    parse_response,
)

# (mode, completion, expected action, expected reasoning, expected status)
CASES = [
    ("cot", "<think>The mug is on the desk.</think><action>go to desk 1</action>", "go to desk 1",
     "The mug is on the desk.", "ok"),
    ("cot", "<think>x</think>\n<action>  go  to\tdesk 1 </action><|im_end|>", "go to desk 1", "x", "ok"),
    ("cot", "I should look.<action>look</action>", "look", "I should look.", "ok"),
    ("prompt", " go to desk 1</action>", "go to desk 1", "", "ok"),
    ("prompt", "go to desk 1</action>\n", "go to desk 1", "", "ok"),
    ("cot", "", None, "", "empty"),
    ("prompt", " \n\t", None, "", "empty"),
    ("cot", "<think>hm</think><action> </action>", None, "hm", "empty"),
    ("cot", "<think>I will go to the desk</think> go to desk 1", "go to desk 1", "I will go to the desk",
     "missing_action_tag"),
    ("cot", "<think>a</think><action>go to desk 1", "go to desk 1", "a", "unclosed_action_tag"),
    ("prompt", "go to desk 1", "go to desk 1", "", "unclosed_action_tag"),
    ("cot", "<action>look</action><action>inventory</action>", "look", "", "multiple_actions"),
    ("cot", "<action><action>look</action></action>", "look", "", "multiple_actions"),
    ("prompt", "<action>look</action>", "look", "", "multiple_actions"),
    ("prompt", "<think>the desk</think>go to desk 1</action>", "go to desk 1", "the desk",
     "reasoning_in_prompt_mode"),
    ("prompt", "look</action> because it is dark", "look", "because it is dark", "reasoning_in_prompt_mode"),
    ("cot", "x" * 40_000, None, "", "too_long"),
]


@pytest.mark.parametrize(("mode", "completion", "action", "reasoning", "status"), CASES)
def test_hand_written_responses(mode, completion, action, reasoning, status):
    assert parse_response(completion, mode=mode) == (action, reasoning, status)


def test_every_status_is_covered():
    assert {c[-1] for c in CASES} == set(PARSE_STATUSES)


def test_action_too_long_and_custom_length():
    assert parse_response("<action>" + "a" * 20 + "</action>", max_action_length=10).status == "too_long"
    assert parse_response("abc", mode="prompt", max_length=2).status == "too_long"


def test_full_response_with_empty_prefill():
    assert parse_response("<action>look</action>", mode="prompt", prefill="") == ("look", "", "ok")


def test_custom_tags():
    fmt = ResponseFormat("<reason>", "</reason>", "[[", "]]")
    assert parse_response("<reason>r</reason>[[look]]", fmt=fmt) == ("look", "r", "ok")
    assert parse_response("look]]", mode="prompt", fmt=fmt) == ("look", "", "ok")


def test_normalization_case_only_when_declared():
    class CaseInsensitive:
        action_normalization = ActionNormalization(lowercase=True)

    assert parse_response("<action>Go To Desk 1</action>").action == "Go To Desk 1"
    norm = normalization_for(CaseInsensitive())
    assert parse_response("<action>Go To Desk 1</action>", normalization=norm).action == "go to desk 1"
    assert normalization_for(object()) == ActionNormalization()
    keep_ws = ActionNormalization(collapse_whitespace=False)
    assert parse_response('<action> f(a="x  y") </action>', normalization=keep_ws).action == 'f(a="x  y")'


def test_bad_arguments():
    with pytest.raises(ValueError, match="expected mode"):
        parse_response("x", mode="fast")
    with pytest.raises(TypeError, match="expected completion of type str"):
        parse_response(b"x")  # type: ignore[arg-type]


def test_normalization_is_read_from_a_registered_id_without_building_the_env():
    """One home for "which normalization does this env declare" (#24 item 6): diagnose passes the id."""
    import cotdiag  # noqa: F401  (registers the envs)
    from cotdiag.response.parsing import DEFAULT_NORMALIZATION, normalization_for

    assert normalization_for("CoTDiag-BFCL-v0").collapse_whitespace is False  # BFCL keeps string arguments
    assert normalization_for("CoTDiag-ALFWorld-v0") == DEFAULT_NORMALIZATION
    assert normalization_for("NoSuchEnv-v0") == DEFAULT_NORMALIZATION
