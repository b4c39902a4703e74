"""The conversation protocol: one chat per episode, the same bytes in data, SFT and inference.

Real ALFWorld expert episodes (train_id) rendered as conversations; SmolLM2's tokenizer (chat
template, tokens that straddle the tags) and the micro model's (plain text).
"""

from __future__ import annotations

import pytest

from cotdiag.baselines.conversation import IGNORE_INDEX, tokenize_conversation
from cotdiag.response import build_model_text
from cotdiag.response.protocol import DecodingProtocol, fit_conversation, span_token_mask


@pytest.fixture(scope="module")
def conv_dataset():
    from cotdiag.baselines.data import build_dataset

    return build_dataset("CoTDiag-ALFWorld-v0", "train_id", episodes=2, protocol=DecodingProtocol())


@pytest.fixture(scope="module")
def smol_tok():
    from transformers import AutoTokenizer

    from cotdiag.agents.pretrained import resolve_model

    return AutoTokenizer.from_pretrained(resolve_model("smollm2-135m"))


@pytest.fixture(scope="module")
def plain_tok(micro_model):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(micro_model)


def test_wrapper_replays_the_training_conversation_byte_for_byte(conv_dataset):
    """The decoding wrapper's info["messages"] at every decision equal the dataset's conversation prefix."""
    import gymnasium as gym

    from cotdiag.wrappers import DecodingModeWrapper

    for mode, col in (("cot", "messages"), ("prompt", "messages_prompt_mode")):
        ex = conv_dataset[0]
        msgs = ex[col]
        env = DecodingModeWrapper(gym.make("CoTDiag-ALFWorld-v0", split="train_id"), mode=mode,
                                  protocol=DecodingProtocol())
        _, info = env.reset(seed=ex["seed"], options={"task_id": ex["task_id"]})
        turn = 0
        for i, m in enumerate(msgs):
            if m["role"] != "assistant":
                continue
            assert info["messages"] == msgs[:i], (mode, turn)
            _, _, term, trunc, info = env.step(m["content"][len(info["prefill"]):])
            assert info["parse_status"] == "ok"
            turn += 1
        assert term and info["won"]
        env.close()


@pytest.mark.parametrize("which", ["smol_tok", "plain_tok"])
def test_sft_labels_turn_by_turn(conv_dataset, which, request):
    """Labels cover each assistant turn (and its end marker) and nothing else; model inputs are prefixes."""
    tok = request.getfixturevalue(which)
    msgs = conv_dataset[0]["messages"]
    [ex] = tokenize_conversation(tok, msgs)
    ids, labels, dec = ex["input_ids"], ex["labels"], ex["decision"]
    full = tok.decode(ids)
    assistants = [m["content"] for m in msgs if m["role"] == "assistant"]
    assert sorted(set(d for d in dec if d >= 0)) == list(range(len(assistants)))
    for d, content in enumerate(assistants):
        pos = [j for j, x in enumerate(dec) if x == d]
        text = tok.decode([ids[j] for j in pos])
        assert text.startswith(content) and len(text) - len(content) <= len("<|im_end|>\n"), (d, text)
        assert all(labels[j] == ids[j] for j in pos)
        # the inference model input of this decision is exactly the text before the turn
        i = [k for k, m in enumerate(msgs) if m["role"] == "assistant"][d]
        assert full.startswith(build_model_text(tok, "", messages=msgs[:i]) + content)
    assert all(lab == IGNORE_INDEX for lab, x in zip(labels, dec, strict=True) if x < 0)


def test_span_rule_counts_straddling_tokens(smol_tok):
    """SmolLM2 splits '</think><action>go' so that a token crosses the tag: it counts as an action token."""
    content = "<think>t</think><action>go to desk 1</action>"
    enc = smol_tok(content, add_special_tokens=False, return_offsets_mapping=True)
    a0 = content.index("<action>") + len("<action>")
    a1 = content.index("</action>")
    mask = span_token_mask(enc["offset_mapping"], a0, a1)
    covered = "".join(smol_tok.decode([t]) for t, m in zip(enc["input_ids"], mask, strict=True) if m)
    assert "go to desk 1" in covered
    assert span_token_mask([(0, 9), (9, 12)], 8, 12) == [1, 1]  # a token that starts before the action


def test_masked_decisions_lose_only_their_action_tokens(conv_dataset, smol_tok, tmp_path):
    from cotdiag.baselines.sft import (
        ActionMaskingCollator,
        ActionMaskSFTConfig,
        tokenize_sft_dataset,
    )

    cfg = ActionMaskSFTConfig(output_dir=str(tmp_path), action_mask_ratio=0.5)
    train = tokenize_sft_dataset(conv_dataset, smol_tok, cfg)
    n = sum(conv_dataset["steps"])
    masked = sorted({d for ds in train["masked_decisions"] for d in ds})
    assert len(masked) == round(0.5 * n)
    batch = ActionMaskingCollator(pad_token_id=smol_tok.pad_token_id or 0)([train[0]])
    row = train[0]
    for j, (lab, mt, am) in enumerate(zip(row["labels"], row["masked_tokens"], row["action_token_mask"], strict=True)):
        got = int(batch["labels"][0, j])
        if mt:
            assert am and got == IGNORE_INDEX
        else:
            assert got == lab


def test_long_episodes_are_cut_at_turn_boundaries(conv_dataset, smol_tok):
    msgs = conv_dataset[1]["messages"]
    chunks = tokenize_conversation(smol_tok, msgs, max_length=700)
    assert len(chunks) > 1 and all(len(c["input_ids"]) <= 700 for c in chunks)
    trained = [d for c in chunks for d in sorted(set(x for x in c["decision"] if x >= 0))]
    assert trained == list(range(sum(m["role"] == "assistant" for m in msgs)))  # each decision once, in order
    for c in chunks:  # every chunk starts with the system message and the first user turn
        text = smol_tok.decode(c["input_ids"])
        assert text.startswith(build_model_text(smol_tok, "", messages=msgs[:2])[:200])
        for d in set(x for x in c["decision"] if x >= 0):  # and holds each trained decision's observation
            assert msgs[1 + 2 * d]["content"] in text
    full = len(tokenize_conversation(smol_tok, msgs)[0]["input_ids"])
    assert sum(len(c["input_ids"]) for c in chunks) <= 3 * full  # not one example per decision


def test_fit_conversation_keeps_head_and_latest_turns():
    msgs = [{"role": "system", "content": "s"}, {"role": "user", "content": "u1"}]
    for t in range(2, 7):
        msgs += [{"role": "assistant", "content": f"a{t - 1}"}, {"role": "user", "content": f"u{t}"}]
    kept = fit_conversation(msgs, lambda m: len(m), 6)
    assert kept[:2] == msgs[:2] and kept[-1] == msgs[-1] and len(kept) == 6
    assert [m["role"] for m in kept] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert fit_conversation(msgs, lambda m: len(m), 100) == msgs


def test_fit_conversation_in_blocks_keeps_the_prefix_for_several_turns():
    """block=B drops pairs in multiples of B: as a conversation grows past the budget, the first kept
    turn moves only every B turns (so a turn's cache stays valid), and every input fits."""
    msgs = [{"role": "system", "content": "s"}, {"role": "user", "content": "u1"}]
    starts = {1: [], 4: []}
    for t in range(2, 30):
        msgs += [{"role": "assistant", "content": f"a{t - 1}"}, {"role": "user", "content": f"u{t}"}]
        for block in starts:
            kept = fit_conversation(msgs, lambda m: len(m), 10, block=block)
            assert len(kept) <= 10 and kept[:2] == msgs[:2] and kept[-1] == msgs[-1]
            dropped = (len(msgs) - len(kept)) // 2
            assert dropped % block == 0 or dropped == (len(msgs) - 3) // 2
            starts[block].append(kept[2]["content"] if len(kept) > 2 else None)
    moves = {b: sum(x != y for x, y in zip(s, s[1:], strict=False)) for b, s in starts.items()}
    assert moves[1] >= 20 and moves[4] <= moves[1] // 4 + 1
    assert fit_conversation(msgs, lambda m: len(m), 10, block=1) == fit_conversation(msgs, lambda m: len(m), 10)
    assert fit_conversation(msgs, lambda m: 0, 10, block=4) == msgs
    with pytest.raises(ValueError, match="block >= 1"):
        fit_conversation(msgs, lambda m: len(m), 10, block=0)


def _play(policy, env, steps):
    obs, info = env.reset(seed=0)
    policy.reset(seed=0)
    out = []
    for _ in range(steps):
        a = policy.act(obs, info)
        out.append((obs, dict(info), a))
        obs, _r, term, trunc, info = env.step(a)
        if term or trunc:
            break
    return out


def test_kv_cache_across_turns_gives_the_same_greedy_responses(sft_micro):
    """A conversation's next turn reuses the previous turn's cache; greedy outputs equal a fresh run per state."""
    from cotdiag.agents import HFPolicy
    from cotdiag.testing import make_scripted
    from cotdiag.wrappers import DecodingModeWrapper

    policy = HFPolicy(str(sft_micro), max_new_tokens=24)
    env = DecodingModeWrapper(make_scripted(), mode="cot", protocol=DecodingProtocol())
    played = _play(policy, env, 3)
    assert len(played) >= 2 and len(played[-1][1]["messages"]) > 3  # a real multi-turn conversation
    for obs, info, a in played:
        fresh = HFPolicy(str(sft_micro), max_new_tokens=24)
        assert fresh.act(obs, info) == a


def test_admissible_scoring_picks_the_best_admissible_action(sft_micro):
    from cotdiag.agents import HFPolicy
    from cotdiag.testing import make_scripted
    from cotdiag.wrappers import DecodingModeWrapper

    policy = HFPolicy(str(sft_micro), max_new_tokens=24, action_selection="score")
    for mode in ("cot", "prompt"):
        env = DecodingModeWrapper(make_scripted(), mode=mode, protocol=DecodingProtocol())
        obs, info = env.reset(seed=0)
        policy.reset(seed=0)
        completion = policy.act(obs, info)
        assert policy.last_step["chosen"] in info["admissible_actions"]
        _, _, _, _, after = env.step(completion)
        assert after["parse_status"] == "ok" and after["action"] == policy.last_step["chosen"]
        # the cached scores equal a full forward pass per candidate, and the chosen one is the argmax
        text = policy.model_text(obs, info) + completion[: completion.index("<action>") + len("<action>")] \
            if mode == "cot" else policy.model_text(obs, info)
        cands = [a + "</action>" for a in info["admissible_actions"]]
        cached = policy.score_candidates(text, cands)
        head = policy.tokenizer(text, add_special_tokens=False)["input_ids"]
        full = [policy._score_full(policy.tokenizer(text + c, add_special_tokens=False)["input_ids"], head)
                for c in cands]
        assert cached == pytest.approx(full, abs=1e-3)
        assert info["admissible_actions"][max(range(len(cands)), key=cached.__getitem__)] == policy.last_step["chosen"]


def test_diagnostic_states_of_a_conversation_are_the_training_inputs(conv_dataset, smol_tok):
    """conversation_states gives one state per decision whose model input is the SFT text before that turn."""
    from cotdiag.baselines.conversation import conversation_spans, conversation_states
    from cotdiag.diagnostics.interventions import insert_hint

    rows = [dict(r) for r in conv_dataset]
    states = conversation_states(rows)
    assert len(states) == sum(r["steps"] for r in rows)
    first = [s for s in states if s["task_id"] == rows[0]["task_id"]]
    for mode, key, col in (("cot", "prompt", "messages"), ("prompt", "prompt_for_prompt_mode", "messages_prompt_mode")):
        text, spans = conversation_spans(smol_tok, rows[0][col])
        prefill = "<action>" if mode == "prompt" else ""
        for s, (start, *_rest) in zip(first, spans, strict=True):
            assert build_model_text(smol_tok, s[key], prefill) == text[:start] + prefill
    hinted = insert_hint(first[2]["prompt"], "go to desk 1")
    assert hinted.messages[-1]["content"].endswith("A teammate suggests: go to desk 1")
    assert hinted.messages[:-1] == first[2]["prompt"].messages[:-1]
    assert first[2]["admissible_actions"] and first[2]["actions_before"] == rows[0]["actions"][:2]
