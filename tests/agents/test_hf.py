"""HFPolicy: batched greedy generation equals unbatched, prefill/stop handling, score."""

from __future__ import annotations

import json
import math

import pytest

from cotdiag.agents.hf import HFPolicy
from cotdiag.agents.registry import make_policy
from cotdiag.error import InvalidConfigError
from cotdiag.response.prompt import build_model_text

PROMPTS = [
    "Task: put a mug on the desk.\n\nCurrent observation:\nYou see a mug 1.",
    "Task: x",
    "Task: put a mug on the desk.\n\nCurrent observation:\nYou arrive at desk 1. On the desk 1, you see a mug 1 and a pen.",
    "Current observation:\nNothing happens.",
]


@pytest.fixture(scope="module")
def policy(micro_model):
    return HFPolicy(micro_model, max_new_tokens=12, batch_size=8)


def test_batched_greedy_equals_unbatched(policy):
    infos = [{"prefill": "<action>"}, {"prefill": ""}, {"prefill": "<action>"}, {"prefill": ""}]
    batched = policy.act_batch(PROMPTS, infos)
    single = [policy.act(p, i) for p, i in zip(PROMPTS, infos, strict=True)]
    assert batched == single
    assert all(isinstance(x, str) for x in batched)


def test_stops_after_closing_tag(policy):
    out = policy.generate([build_model_text(policy.tokenizer, "p", "<action>")])[0]
    k = out.find("</action>")
    assert k == -1 or out.endswith("</action>")
    assert "<|endoftext|>" not in out


def test_score_per_token_and_sum(policy):
    s = policy.score(PROMPTS[0], "take mug 1 from desk 1</action>", prefill="<action>")
    assert len(s.tokens) == len(s.token_logprobs) > 0
    assert all(lp <= 0 for lp in s.token_logprobs)
    assert math.isclose(s.total, sum(s.token_logprobs), rel_tol=1e-6)
    assert s.tokens[-1] == "</action>"
    batch = policy.score_batch([PROMPTS[0], PROMPTS[1]], ["take mug 1 from desk 1</action>", "look</action>"],
                               prefills=["<action>", "<action>"])
    assert math.isclose(batch[0].total, s.total, rel_tol=1e-4, abs_tol=1e-4)


def test_seeded_sampling_is_reproducible(micro_model):
    p = HFPolicy(micro_model, do_sample=True, seed=3, max_new_tokens=8)
    a = [p.act(PROMPTS[0], {"prefill": ""}) for _ in range(2)]
    p.reset(seed=3)
    b = [p.act(PROMPTS[0], {"prefill": ""}) for _ in range(2)]
    assert a == b


def test_registry_builds_hf_policy(micro_model):
    p = make_policy(f"hf:{micro_model}", seed=0, max_new_tokens=4)
    assert isinstance(p, HFPolicy) and p.name == f"hf:{micro_model}"


def test_score_truncates_long_contexts_like_generate(micro_model):
    """A context over ``max_prompt_tokens`` keeps its last tokens: the model sees what it acts on."""
    p = HFPolicy(micro_model, max_new_tokens=4, max_prompt_tokens=6)
    seen = []
    forward = p.model.forward

    def spy(*args, **kw):
        seen.append(kw["input_ids"][0].tolist())
        return forward(*args, **kw)

    p.model.forward = spy
    cont = "take mug 1 from desk 1</action>"
    s = p.score(PROMPTS[2], cont, prefill="<action>")
    ctx = build_model_text(p.tokenizer, PROMPTS[2], "<action>")
    full = p.tokenizer(ctx + cont, add_special_tokens=False)["input_ids"]
    assert seen[0] == full[-(6 + len(s.tokens)):]
    assert s.tokens[-1] == "</action>"


def test_a_resumed_run_with_other_generation_settings_is_refused(micro_model, tmp_path):
    """The policy's settings (dtype, generation budget, ...) are part of the run's configuration: resuming
    an evaluation with another ``max_new_tokens`` would mix two policies in one cell."""
    from cotdiag.error import ResultsMismatchError
    from cotdiag.rollout import evaluate
    from cotdiag.rollout.factory import DecodedEnvFactory

    env = "CoTDiag-ALFWorld-v0"
    kw = dict(split="valid_seen", episodes=1, max_episode_steps=1, make_env=DecodedEnvFactory(env, "prompt", 1, 1))
    evaluate(env, HFPolicy(str(micro_model), max_new_tokens=8), tmp_path, **kw)
    cfg = json.loads((tmp_path / "config.json").read_text())
    assert cfg["policy_settings"]["max_new_tokens"] == 8 and cfg["policy_settings"]["dtype"] == "float32"
    evaluate(env, HFPolicy(str(micro_model), max_new_tokens=8), tmp_path, **kw)  # same settings: resumes
    with pytest.raises(ResultsMismatchError, match="policy_settings"):
        evaluate(env, HFPolicy(str(micro_model), max_new_tokens=16), tmp_path, **kw)


def test_context_drop_block_is_recorded_and_drops_turns_in_blocks(micro_model):
    msgs = [{"role": "system", "content": "Play."}, {"role": "user", "content": "Task: put a mug on the desk."}]
    for t in range(12):
        msgs += [{"role": "assistant", "content": f"<think>step {t}</think><action>look</action>"},
                 {"role": "user", "content": f"You see a mug {t}."}]
    texts = {}
    for block in (1, 4):
        p = HFPolicy(micro_model, max_new_tokens=4, max_prompt_tokens=120, context_drop_block=block)
        texts[block] = p.model_text("", {"messages": msgs})
        assert ("context_drop_block" in p.settings()) == (block != 1)
    kept = {b: [t for t in range(12) if f"step {t}<" in text] for b, text in texts.items()}
    assert kept[4] and kept[4][-1] == 11 and len(kept[4]) <= len(kept[1]) < 12
    assert (12 - len(kept[4])) % 4 == 0  # dropped pairs: a multiple of the block
    with pytest.raises(InvalidConfigError, match="context_drop_block"):
        HFPolicy(micro_model, context_drop_block=0)
