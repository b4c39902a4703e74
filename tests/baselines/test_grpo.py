"""GRPO on environment reward: the replay reward, the action-token mask, and a smoke run."""

from __future__ import annotations

import math

import pytest

from cotdiag.baselines.grpo import (
    ActionMaskGRPOConfig,
    EnvReplayReward,
    StepRollout,
    action_token_mask,
    train_grpo,
)

from .conftest import SOLUTION, make_scripted


def _reward() -> EnvReplayReward:
    return EnvReplayReward(make_env=lambda env_id: make_scripted())


def test_replay_reward_executes_action_in_recorded_state():
    r = _reward()
    kw = dict(env=["scripted"] * 3, task_id=["task/0"] * 3, seed=[0] * 3, actions_before=[SOLUTION[:2]] * 3,
              action=[SOLUTION[2]] * 3)
    out = r(["p"] * 3, [
        f"<think>ok</think><action>{SOLUTION[2]}</action>",  # wins: score 2/3 -> 1 (+1/3) and success bonus
        "<think>hmm</think><action>look</action>",  # valid, no progress
        "no tags at all",  # format error
    ], **kw)
    assert math.isclose(out[0], 1 / 3 + 1.0, rel_tol=1e-6)
    assert out[1] == 0.0 and out[2] == -0.1
    r(["p"], [f"<action>{SOLUTION[2]}</action>"], **{k: v[:1] for k, v in kw.items()})
    assert r.replays == 2  # the repeated action came from the cache


def test_action_token_mask_marks_only_action(micro_model):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(micro_model)
    ids = tok("<think>I see a box.</think><action>open box</action>", add_special_tokens=False)["input_ids"]
    mask = action_token_mask(tok, ids)
    marked = tok.decode([t for t, m in zip(ids, mask, strict=True) if m])
    assert marked == "open box"
    no_tags = tok("no tags", add_special_tokens=False)["input_ids"]
    assert action_token_mask(tok, no_tags) == [0] * len(no_tags)


@pytest.mark.parametrize("k", [0.0, 1.0])
def test_grpo_smoke(tmp_path, scripted_dataset, sft_micro, k):
    import torch
    from transformers import AutoModelForCausalLM

    before = {n: p.detach().clone() for n, p in AutoModelForCausalLM.from_pretrained(sft_micro).named_parameters()}
    cfg = ActionMaskGRPOConfig(
        output_dir=str(tmp_path / "grpo"), action_mask_ratio=k, max_steps=2, per_device_train_batch_size=4,
        num_generations=4, max_completion_length=24, learning_rate=1e-3, temperature=1.5, logging_steps=1, save_steps=2,
        expert_bonus=1.0, disable_tqdm=True, dataloader_num_workers=0, seed=0,
    )
    def brevity(prompts, completions, **kw):  # guarantees reward variance within each group
        return [-len(c) / 100 for c in completions]

    res = train_grpo(scripted_dataset.select(range(4)), str(sft_micro), cfg, reward=_reward(),
                     extra_reward_funcs=[brevity])
    losses = [h["loss"] for h in res["log_history"] if "loss" in h]
    assert res["steps"] == 2 and losses and all(math.isfinite(x) for x in losses)
    after = dict(AutoModelForCausalLM.from_pretrained(tmp_path / "grpo").named_parameters())
    assert any(not torch.equal(before[n], after[n]) for n in before)
    if k == 1.0:
        assert res["masked_log"] and all(m == n for _, m, n in res["masked_log"])


def test_step_rollout_masks_exactly_the_action_tokens_of_the_chosen_completions(scripted_dataset, sft_micro):
    """The step path's ``env_mask`` (TRL's public loss mask): 0 on the action tokens of masked completions,
    1 elsewhere; logprobs align with the sampled ids; a completion ends with its end-of-sequence token."""
    from types import SimpleNamespace

    from transformers import AutoModelForCausalLM, AutoTokenizer

    from cotdiag.baselines.grpo import grpo_dataset

    tok = AutoTokenizer.from_pretrained(sft_micro)
    tok.pad_token = tok.pad_token or tok.eos_token
    prompts = grpo_dataset(scripted_dataset.select(range(3)), tok)["prompt"]
    trainer = SimpleNamespace(processing_class=tok, model=AutoModelForCausalLM.from_pretrained(sft_micro),
                              args=SimpleNamespace(temperature=1.0, top_p=1.0, top_k=0),
                              state=SimpleNamespace(global_step=7))
    for k in (0.0, 1.0):
        out = StepRollout(48, action_mask_ratio=k, seed=0)(prompts, trainer)
        assert set(out) == {"prompt_ids", "completion_ids", "logprobs", "env_mask"}
        for p, pid, ids, lps, mask in zip(prompts, *out.values(), strict=True):
            assert pid == tok(p, add_special_tokens=False)["input_ids"]
            assert len(ids) == len(lps) == len(mask) and all(lp <= 0 for lp in lps)
            expected = [1 - a for a in action_token_mask(tok, ids)] if k else [1] * len(ids)
            assert mask == expected
            assert tok.eos_token_id not in ids[:-1]
    masked = [m for m in out["env_mask"] if 0 in m]
    assert masked, "the SFT'd micro model writes actions, so k = 1 masks tokens"


def test_no_trl_trainer_private_method_is_overridden():
    """Both GRPO paths run on TRL's public hooks: no class in the package subclasses a TRL trainer to
    override one of its private methods (they change between TRL releases)."""
    import ast
    from pathlib import Path

    import cotdiag

    offenders = []
    for path in Path(cotdiag.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and any("Trainer" in ast.unparse(b) for b in node.bases):
                offenders += [f"{path.name}:{node.name}.{f.name}" for f in node.body
                              if isinstance(f, ast.FunctionDef) and f.name.startswith("_") and not f.name.startswith("__")]
    assert offenders == []
