"""Recovery turns (`train sft --recovery_rate`): failed actions the real simulator answers as the data says.

Real ALFWorld expert episodes (train_id). The inserted turns are replayed in the real env through the
decoding wrapper: each failed action is invalid there, gets exactly the feedback turn of the data,
and the expert's next action still wins the game; tokenized, the failed turns carry no labels.
"""

from __future__ import annotations

import numpy as np
import pytest

from cotdiag.baselines.conversation import IGNORE_INDEX, decision_ids, tokenize_conversation
from cotdiag.baselines.recovery import failed_action, invalid_action_feedback, with_recovery_turns
from cotdiag.error import InvalidConfigError
from cotdiag.response.protocol import DecodingProtocol


@pytest.fixture(scope="module")
def conv_dataset():
    from cotdiag.baselines.data import build_dataset

    return build_dataset("CoTDiag-ALFWorld-v0", "train_id", episodes=2, protocol=DecodingProtocol())


def test_failed_action_overshoots_the_number_then_repeats():
    adm = ["go to drawer 1", "go to drawer 2", "go to shelf 1", "open drawer 2"]
    # drawer 3 does not exist here: the agent's counting mistake
    assert failed_action("go to drawer 2", "go to shelf 1", adm) == "go to drawer 3"
    # drawer 2 exists: the overshoot is admissible, so the mistake is repeating the last action... which is too
    assert failed_action("go to drawer 1", "open drawer 2", adm) is None
    assert failed_action("take apple 1 from table 1", "go to shelf 1", adm) == "take apple 1 from table 1"
    assert failed_action("look", "go to shelf 1", adm) == "look"
    assert failed_action("go to shelf 1", "go to drawer 1", adm) == "go to shelf 2"
    assert failed_action(None, "go to shelf 1", adm) is None
    assert failed_action("go to drawer 2", "go to shelf 1", []) is None  # not enumerable: nothing to check against
    assert failed_action("go to drawer 2", "go to drawer 3", adm) is None  # never the expert's own action


@pytest.mark.parametrize("mode,col", [("cot", "messages"), ("prompt", "messages_prompt_mode")])
def test_recovery_conversation_is_what_the_real_env_answers(conv_dataset, mode, col):
    import gymnasium as gym

    from cotdiag.wrappers import DecodingModeWrapper

    ex = conv_dataset[0]
    msgs = with_recovery_turns(ex, mode, 1.0, np.random.default_rng(0))
    failed = [m for m in msgs if m.get("train") is False]
    assert failed, "rate 1 inserts a failed action wherever there is one"
    drop = {i for i, m in enumerate(msgs) if m.get("train") is False}
    expert = [m for i, m in enumerate(msgs) if i not in drop and i - 1 not in drop]
    assert expert == list(ex[col])  # the expert conversation, in order, with (failed, feedback) pairs between
    env = DecodingModeWrapper(gym.make("CoTDiag-ALFWorld-v0", split="train_id"), mode=mode, protocol=DecodingProtocol())
    _, info = env.reset(seed=ex["seed"], options={"task_id": ex["task_id"]})
    for i, m in enumerate(msgs):
        if m["role"] != "assistant":
            continue
        assert info["messages"] == [{"role": x["role"], "content": x["content"]} for x in msgs[:i]]
        _, _, term, _trunc, info = env.step(m["content"][len(info["prefill"]):])
        assert bool(info["invalid_action"]) == (m.get("train") is False), m["content"]
    assert term and info["won"]
    env.close()


def test_failed_turns_get_no_labels_and_are_not_decisions(conv_dataset):
    from transformers import AutoTokenizer

    from cotdiag.agents.pretrained import resolve_model

    tok = AutoTokenizer.from_pretrained(resolve_model("smollm2-135m"))
    ex = conv_dataset[0]
    msgs = with_recovery_turns(ex, "cot", 1.0, np.random.default_rng(0))
    ids = decision_ids(msgs)
    n_failed = sum(d < 0 for d in ids)
    assert n_failed > 0 and [d for d in ids if d >= 0] == list(range(len(ex["actions"])))
    (plain,) = tokenize_conversation(tok, ex["messages"])
    (rec,) = tokenize_conversation(tok, msgs)
    trained = [t for t, lab in zip(rec["input_ids"], rec["labels"], strict=True) if lab != IGNORE_INDEX]
    assert trained == [t for t, lab in zip(plain["input_ids"], plain["labels"], strict=True) if lab != IGNORE_INDEX]
    assert len(rec["input_ids"]) > len(plain["input_ids"])
    assert sorted(set(rec["decision"]) - {-1}) == list(range(len(ex["actions"])))
    # cut into chunks, every expert decision is still trained exactly once, no failed one at all
    chunks = tokenize_conversation(tok, msgs, max_length=700)
    assert len(chunks) > 1
    seen = [d for c in chunks for d in sorted(set(c["decision"]) - {-1})]
    assert sorted(seen) == list(range(len(ex["actions"])))


def test_rate_zero_is_the_recorded_conversation_and_bad_input_is_refused(conv_dataset):
    ex = conv_dataset[0]
    assert with_recovery_turns(ex, "cot", 0.0, np.random.default_rng(0)) == list(ex["messages"])
    with pytest.raises(InvalidConfigError, match="recovery_rate"):
        with_recovery_turns(ex, "cot", 1.5, np.random.default_rng(0))
    assert invalid_action_feedback("CoTDiag-ALFWorld-v0") == "Nothing happens."
    with pytest.raises(InvalidConfigError, match="invalid_action_feedback"):
        invalid_action_feedback("CoTDiag-BFCL-v0")


def test_sft_dataset_counts_the_failed_turns_and_refuses_per_state_rows(conv_dataset, scripted_dataset, micro_model):
    from transformers import AutoTokenizer

    from cotdiag.agents.pretrained import resolve_model
    from cotdiag.baselines.sft import ActionMaskSFTConfig, tokenize_sft_dataset

    tok = AutoTokenizer.from_pretrained(resolve_model("smollm2-135m"))
    cfg = ActionMaskSFTConfig(output_dir="unused", recovery_rate=1.0, use_cpu=True, bf16=False)
    train = tokenize_sft_dataset(conv_dataset, tok, cfg)
    expected = sum(sum(d < 0 for d in decision_ids(with_recovery_turns(ex, "cot", 1.0, np.random.default_rng(0))))
                   for ex in conv_dataset)  # rate 1: every decision with a failed action gets one, whatever the draws
    assert sum(train["recovery_turns"]) == expected > 0
    assert len({d for ds in train["decisions"] for d in ds}) == sum(len(ex["actions"]) for ex in conv_dataset)
    with pytest.raises(InvalidConfigError, match="conversation data"):
        tokenize_sft_dataset(scripted_dataset, AutoTokenizer.from_pretrained(micro_model), cfg)
