"""Episodes of a vector env share one batched generation (cotdiag.agents.hf_batch): records equal the
sequential run's, each episode keeps its own key/value cache, and a batch that fails is retried slot by slot."""

from __future__ import annotations

import json

import pytest

from cotdiag.agents import HFPolicy
from cotdiag.agents.hf_batch import act_slots, batchable
from cotdiag.error import InvalidConfigError
from cotdiag.response.protocol import DecodingProtocol
from cotdiag.rollout import evaluate
from cotdiag.rollout.factory import DecodedEnvFactory
from tests.rollout.test_vector import SCRIPTED_ID

TIMINGS = ("wall_time_s", "policy_time_s")


def _records(path):
    recs = sorted((json.loads(line) for line in open(path / "episodes.jsonl")), key=lambda r: r["episode"])
    return [{k: v for k, v in r.items() if k not in TIMINGS} for r in recs]


@pytest.mark.parametrize("selection", ["generate", "score"])
def test_batched_episodes_equal_sequential_ones(sft_micro, tmp_path, monkeypatch, selection):
    calls = []
    import cotdiag.agents.hf_batch as hf_batch

    real = hf_batch.act_slots
    monkeypatch.setattr(hf_batch, "act_slots", lambda p, o, i: calls.append(len(p)) or real(p, o, i))
    factory = DecodedEnvFactory(SCRIPTED_ID, "cot", protocol=DecodingProtocol())
    kw = dict(episodes=4, seed=2, make_env=factory, max_episode_steps=4)
    policy = HFPolicy(str(sft_micro), max_new_tokens=24, action_selection=selection)
    evaluate(SCRIPTED_ID, policy, tmp_path / "seq", **kw)
    assert not calls
    evaluate(SCRIPTED_ID, policy, tmp_path / "vec", num_envs=3, **kw)
    assert calls and max(calls) == 3  # three episodes generated together
    seq, vec = _records(tmp_path / "seq"), _records(tmp_path / "vec")
    assert seq == vec
    assert sum(r["steps"] for r in seq) > 4  # multi-turn conversations, so the caches were reused
    if selection == "score":
        assert all(r["policy_steps"] for r in vec)


def test_each_slot_keeps_its_own_cache(sft_micro):
    """After a batched turn each copy's cache covers its own prompt and completion, so the next turn
    equals a fresh policy's answer to the whole conversation."""
    import copy

    from cotdiag.testing import make_scripted
    from cotdiag.wrappers import DecodingModeWrapper

    base = HFPolicy(str(sft_micro), max_new_tokens=24)
    envs = [DecodingModeWrapper(make_scripted(), mode="cot", protocol=DecodingProtocol()) for _ in range(3)]
    policies = [copy.copy(base) for _ in envs]
    states = [e.reset(seed=s, options={"task_id": f"task/{s}"}) for s, e in enumerate(envs)]
    for p, s in zip(policies, range(3), strict=True):
        p.reset(seed=s)
    for _turn in range(3):
        obs, infos = [s[0] for s in states], [s[1] for s in states]
        actions = act_slots(policies, obs, infos)
        for o, i, a, p in zip(obs, infos, actions, policies, strict=True):
            assert HFPolicy(str(sft_micro), max_new_tokens=24).act(o, i) == a
            assert p._kv.get_seq_length() == len(p._kv_ids) > 0
        states = [e.step(a)[::4] for e, a in zip(envs, actions, strict=True)]


def test_only_greedy_copies_of_one_model_are_batched(sft_micro, micro_model):
    a = HFPolicy(str(sft_micro), max_new_tokens=8)
    assert batchable([a, a]) and not batchable([a])
    assert not batchable([a, HFPolicy(str(micro_model), max_new_tokens=8)])
    assert not batchable([a, HFPolicy(a.model, a.tokenizer, max_new_tokens=8, do_sample=True)])
    with pytest.raises(InvalidConfigError, match="one observation and info per policy"):
        act_slots([a, a], ["x"], [{}])


def test_a_failing_batch_is_retried_slot_by_slot(sft_micro, tmp_path, monkeypatch):
    import cotdiag.agents.hf_batch as hf_batch

    def broken(*_a, **_k):
        raise RuntimeError("batch failed")

    monkeypatch.setattr(hf_batch, "act_slots", broken)
    factory = DecodedEnvFactory(SCRIPTED_ID, "cot", protocol=DecodingProtocol())
    kw = dict(episodes=3, seed=2, make_env=factory, max_episode_steps=3)
    policy = HFPolicy(str(sft_micro), max_new_tokens=24)
    evaluate(SCRIPTED_ID, policy, tmp_path / "seq", **kw)
    evaluate(SCRIPTED_ID, policy, tmp_path / "vec", num_envs=3, **kw)
    assert _records(tmp_path / "seq") == _records(tmp_path / "vec")
    assert not any(r["error"] for r in _records(tmp_path / "vec"))


def test_batched_hf_episodes_resume_mid_way(sft_micro, tmp_path, monkeypatch):
    """Greedy HF copies on a vector env with the CoT decoding wrapper: the replayed completions
    rebuild each episode's conversation, and the records equal an uninterrupted run's."""
    import cotdiag.agents.hf_batch as hf_batch

    factory = DecodedEnvFactory(SCRIPTED_ID, "cot", protocol=DecodingProtocol())
    kw = dict(episodes=3, seed=2, make_env=factory, max_episode_steps=4, num_envs=3)
    policy = HFPolicy(str(sft_micro), max_new_tokens=24)
    evaluate(SCRIPTED_ID, policy, tmp_path / "whole", **kw)
    real, calls = hf_batch.act_slots, []

    def killed_at_third(p, o, i):
        calls.append(len(p))
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(p, o, i)

    monkeypatch.setattr(hf_batch, "act_slots", killed_at_third)
    with pytest.raises(KeyboardInterrupt):
        evaluate(SCRIPTED_ID, policy, tmp_path / "killed", **kw)
    recorded = [json.loads(x) for x in (tmp_path / "killed" / "steps.jsonl").read_text().splitlines()]
    assert recorded and max(e["step"] for e in recorded) == 1  # two steps of each episode in flight
    calls.clear()
    monkeypatch.setattr(hf_batch, "act_slots", lambda p, o, i: calls.append(len(p)) or real(p, o, i))
    evaluate(SCRIPTED_ID, policy, tmp_path / "killed", **kw)
    assert _records(tmp_path / "killed") == _records(tmp_path / "whole")
    whole_steps = max(r["steps"] for r in _records(tmp_path / "whole"))
    assert len(calls) <= whole_steps - 2  # the first two turns were not generated again
