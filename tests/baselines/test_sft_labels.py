"""The SFT label tensor, position by position, for k = 0 and a masked example, in both formats."""

from __future__ import annotations

import pytest

from cotdiag.baselines.sft import (
    IGNORE_INDEX,
    ActionMaskingCollator,
    choose_masked,
    tokenize_example,
)

PROMPT = "Task: put a mug on the desk.\n\nCurrent observation:\nYou see a mug 1."
TRACE = "The mug is here, so I take it."
ACTION = "take mug 1 from desk 1"


def _ids(tok, text):
    return tok(text, add_special_tokens=False)["input_ids"]


@pytest.fixture(scope="module")
def tok(micro_model):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(micro_model)


@pytest.mark.parametrize("fmt", ["cot", "prompt"])
@pytest.mark.parametrize("masked", [False, True])
def test_labels_position_by_position(tok, fmt, masked):
    # Hand-built expectation: the tags are single special tokens, so each segment tokenizes alone.
    prompt_ids = _ids(tok, PROMPT + "\n")
    seg = []  # (ids, supervised, is_action)
    if fmt == "cot":
        seg += [(_ids(tok, "<think>"), True, False), (_ids(tok, TRACE), True, False),
                (_ids(tok, "</think>"), True, False)]
    seg += [(_ids(tok, "<action>"), True, False), (_ids(tok, ACTION), True, True),
            (_ids(tok, "</action>"), True, False), ([tok.eos_token_id], True, False)]
    for ids, _, _ in seg[:1]:
        assert len(ids) == 1  # a tag is one token
    expected_ids = list(prompt_ids)
    expected_labels = [IGNORE_INDEX] * len(prompt_ids)
    for ids, _sup, is_action in seg:
        expected_ids += ids
        expected_labels += [IGNORE_INDEX] * len(ids) if (is_action and masked) else list(ids)

    ex = tokenize_example(tok, PROMPT, ACTION, TRACE if fmt == "cot" else None)
    assert ex["input_ids"] == expected_ids
    batch = ActionMaskingCollator(pad_token_id=tok.pad_token_id)(
        [{**ex, "mask_action": masked}]
    )
    labels = batch["labels"][0].tolist()
    assert len(labels) == len(expected_labels)
    for pos, (got, want) in enumerate(zip(labels, expected_labels, strict=True)):
        assert got == want, f"position {pos}: label {got}, expected {want}"
    # The action tag and the closing tag stay supervised in every case.
    a_open = tok.convert_tokens_to_ids("<action>")
    assert a_open in labels and tok.convert_tokens_to_ids("</action>") in labels


def test_collator_pads_and_masks_only_marked_examples(tok):
    a = tokenize_example(tok, PROMPT, ACTION, TRACE)
    b = tokenize_example(tok, "short", "look", "I look.")
    batch = ActionMaskingCollator(pad_token_id=tok.pad_token_id)(
        [{**a, "mask_action": False}, {**b, "mask_action": True}]
    )
    assert batch["input_ids"].shape == batch["labels"].shape == (2, len(a["input_ids"]))
    assert batch["labels"][0].tolist() == a["labels"]
    lb = batch["labels"][1].tolist()
    n = len(b["input_ids"])
    assert all(x == IGNORE_INDEX for x in lb[n:])  # padding
    assert [x for x, m in zip(lb[:n], b["action_token_mask"], strict=True) if m] == [IGNORE_INDEX] * sum(
        b["action_token_mask"])


def test_choose_masked_is_seeded_and_exact():
    m1, m2 = choose_masked(10, 0.3, seed=1), choose_masked(10, 0.3, seed=1)
    assert m1.sum() == 3 and (m1 == m2).all()
    assert choose_masked(10, 0.0, 0).sum() == 0 and choose_masked(10, 1.0, 0).sum() == 10
