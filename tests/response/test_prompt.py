"""The prompt renderer, pinned on a fixed episode."""

from __future__ import annotations

import pytest

from cotdiag.response import (
    HistoryConfig,
    HistoryStep,
    chat_messages,
    instructions,
    render_messages,
    render_prompt,
    select_history,
)

TASK = "put a clean mug in coffeemachine."
STEPS = [
    HistoryStep("You are in the middle of a room.\nYour task is to: put a clean mug in coffeemachine.",
                "go to countertop 1", "Mugs are usually on countertops."),
    HistoryStep("On the countertop 1, you see a mug 1.", "take mug 1 from countertop 1", "There it is."),
    HistoryStep("You pick up the mug 1 from the countertop 1.", "go to sinkbasin 1", None),
]
OBS = "On the sinkbasin 1, you see nothing."

PINNED_ALL_KEEP = """You are an agent acting in a text environment. Reply with exactly one action. First reason step by step inside <think></think>, then give the action inside <action></action>: <think>...</think><action>...</action>

Task: put a clean mug in coffeemachine.

History (3 of 3 steps):
[Step 1]
Observation: You are in the middle of a room.
Your task is to: put a clean mug in coffeemachine.
Reasoning: Mugs are usually on countertops.
Action: go to countertop 1
[Step 2]
Observation: On the countertop 1, you see a mug 1.
Reasoning: There it is.
Action: take mug 1 from countertop 1
[Step 3]
Observation: You pick up the mug 1 from the countertop 1.
Action: go to sinkbasin 1

Current observation:
On the sinkbasin 1, you see nothing.

Admissible actions: clean mug 1 with sinkbasin 1, go to countertop 1"""

PINNED_LAST1_PROMPT = """You are an agent acting in a text environment. Reply with exactly one action. Give only the action inside <action></action>, with no reasoning: <action>...</action>

Task: put a clean mug in coffeemachine.

History (1 of 3 steps):
[Step 3]
Observation: You pick up the mug 1 from the countertop 1.
Action: go to sinkbasin 1

Current observation:
On the sinkbasin 1, you see nothing."""


def test_pinned_all_steps_reasoning_kept():
    p = render_prompt(TASK, OBS, STEPS, mode="cot", admissible_actions=["clean mug 1 with sinkbasin 1", "go to countertop 1"],
                      config=HistoryConfig(reasoning="keep"))
    assert p == PINNED_ALL_KEEP


def test_pinned_last_step_prompt_mode():
    assert render_prompt(TASK, OBS, STEPS, mode="prompt", config=HistoryConfig(window=1)) == PINNED_LAST1_PROMPT


def test_strip_reasoning_and_no_history():
    p = render_prompt(TASK, OBS, STEPS, config=HistoryConfig())
    assert "Reasoning:" not in p and "History (3 of 3 steps)" in p
    p0 = render_prompt(TASK, OBS, STEPS)  # default: no history
    assert "History" not in p0 and p0.endswith(OBS)


def test_char_budget_drops_oldest_whole_steps():
    full = render_prompt(TASK, OBS, STEPS, config=HistoryConfig())
    for budget in (0, 50, 120, 200, 10_000):
        p = render_prompt(TASK, OBS, STEPS, config=HistoryConfig(max_chars=budget))
        assert len(p) <= len(full)
        if budget == 10_000:
            assert p == full
    p = render_prompt(TASK, OBS, STEPS, config=HistoryConfig(max_chars=120))
    assert "[Step 3]" in p and "[Step 1]" not in p


def test_messages_match_prompt():
    m = render_messages(TASK, OBS, STEPS, mode="prompt", config=HistoryConfig(window=2))
    assert [x["role"] for x in m] == ["system", "user"]
    assert m[0]["content"] == instructions("prompt")
    assert render_prompt(TASK, OBS, STEPS, mode="prompt", config=HistoryConfig(window=2)) == (
        m[0]["content"] + "\n\n" + m[1]["content"])


@pytest.mark.parametrize("kwargs", [{"window": -1}, {"max_chars": -5}, {"reasoning": "summarize"}])
def test_bad_config(kwargs):
    with pytest.raises(ValueError, match="expected"):
        HistoryConfig(**kwargs)


@pytest.mark.parametrize("window", [0, 1, 2, 3, None])
def test_keep_first_shows_step_one_beside_the_window(window):
    plain = select_history(STEPS, HistoryConfig(window=window))
    kept = select_history(STEPS, HistoryConfig(window=window, keep_first=True))
    first = f"[Step 1]\nObservation: {STEPS[0].observation.strip()}"
    assert kept[0].startswith(first)
    assert kept[1:] == plain if not plain or not plain[0].startswith("[Step 1]") else kept == plain
    assert select_history([], HistoryConfig(window=window, keep_first=True)) == []


def test_keep_first_survives_the_char_budget():
    p = render_prompt(TASK, OBS, STEPS, config=HistoryConfig(max_chars=120, keep_first=True))
    assert "[Step 1]" in p and "[Step 3]" in p and "[Step 2]" not in p


def test_chat_messages_inverts_render_prompt():
    for mode in ("prompt", "cot"):
        cfg = HistoryConfig(window=2, keep_first=True)
        assert chat_messages(render_prompt(TASK, OBS, STEPS, mode=mode, config=cfg)) == render_messages(
            TASK, OBS, STEPS, mode=mode, config=cfg)
    assert chat_messages("no blank line") == [{"role": "user", "content": "no blank line"}]
    assert chat_messages("Task: x\n\nobs") == [{"role": "user", "content": "Task: x\n\nobs"}]
