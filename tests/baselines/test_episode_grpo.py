"""Whole-episode GRPO (issue #14): groups, token masks position by position, and a real run."""

from __future__ import annotations

import functools
import math
from types import SimpleNamespace

import pytest
import torch

from cotdiag.baselines.episodes import EpisodeRollout, episode_dataset
from cotdiag.baselines.grpo import action_token_mask
from cotdiag.response.protocol import DecodingProtocol
from cotdiag.rollout.factory import DecodedEnvFactory
from cotdiag.testing import make_scripted
from cotdiag.wrappers.decoding import DecodingModeWrapper

G = 3


def _scripted_chat_env():
    return DecodingModeWrapper(make_scripted(max_episode_steps=6), mode="cot", chat=True)


def _rollout(model_dir, k, max_turns=3, temperature=1.0):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    data, specs = episode_dataset(_scripted_chat_env, tok, episodes=2, seed=0)
    rollout = EpisodeRollout(specs, _scripted_chat_env, max_turns=max_turns, max_turn_tokens=24,
                             max_episode_tokens=400, action_mask_ratio=k, seed=0)
    trainer = SimpleNamespace(processing_class=tok, model=AutoModelForCausalLM.from_pretrained(model_dir),
                              args=SimpleNamespace(temperature=temperature, top_p=1.0, top_k=0))
    prompts = [p for p in data["prompt"] for _ in range(G)]  # TRL's sampler: each prompt G times in a row
    torch.manual_seed(0)
    return rollout, rollout(prompts, trainer), data, tok


@pytest.mark.parametrize("k", [0.0, 1.0])
def test_groups_share_task_and_seed_and_masks_are_exact(sft_micro, k):
    rollout, out, data, tok = _rollout(sft_micro, k)
    n = len(data) * G
    assert all(len(out[key]) == n for key in ("prompt_ids", "completion_ids", "logprobs", "env_mask", "turns"))
    for g, (task, seed) in enumerate(zip(data["task_id"], data["seed"], strict=True)):
        group = rollout.log[g * G:(g + 1) * G]
        assert {(e["task_id"], e["seed"]) for e in group} == {(task, seed)}
    for e, ids, mask, lps in zip(rollout.last_episodes, out["completion_ids"], out["env_mask"], out["logprobs"],
                                 strict=True):
        assert len(ids) == len(mask) == len(lps) and e.masked == (k == 1.0)
        spans = sorted(e.segments, key=lambda s: s[1])
        assert spans[0][1] == 0 and spans[-1][2] == len(ids)
        assert all(a[2] == b[1] for a, b in zip(spans, spans[1:], strict=False))  # contiguous, in order
        for kind, a, b in spans:
            if kind == "feedback":  # observations: never trained, and what the env said
                assert mask[a:b] == [0] * (b - a) and "Current observation" in tok.decode(ids[a:b])
                assert lps[a:b] == [0.0] * (b - a)
            else:  # the model's own tokens: trained, except the action tokens of masked episodes
                act = action_token_mask(tok, ids[a:b])
                assert mask[a:b] == ([1 - x for x in act] if e.masked else [1] * (b - a))
                assert all(math.isfinite(x) and x <= 0 for x in lps[a:b])
        assert e.end in ("terminated", "truncated", "max_turns", "max_episode_tokens")
    if k == 1.0:
        assert any(0 in m[a:b] for e, m in zip(rollout.last_episodes, out["env_mask"], strict=True)
                   for kind, a, b in e.segments if kind == "response")


def test_episode_budgets_end_episodes_with_a_recorded_reason(sft_micro):
    rollout, out, _, _ = _rollout(sft_micro, 0.0, max_turns=2)
    assert all(e["turns"] <= 2 and e["end"] in ("terminated", "max_turns", "max_episode_tokens") for e in rollout.log)
    assert all(t <= 2 for t in out["turns"])
    assert set(rollout.last_stats) >= {"episode/success", "episode/format_error_rate", "episode/turns",
                                       "rollout/tokens_per_s", "rollout/env_steps_per_s"}


def test_two_grpo_steps_on_alfworld_from_an_sft_checkpoint(tmp_path, sft_micro):
    from cotdiag.baselines.episodes import EpisodeArgs
    from cotdiag.baselines.grpo import ActionMaskGRPOConfig, train_episode_grpo

    cfg = ActionMaskGRPOConfig(
        output_dir=str(tmp_path / "grpo"), max_steps=2, per_device_train_batch_size=2, num_generations=2,
        learning_rate=1e-3, logging_steps=1, save_strategy="no", disable_tqdm=True, seed=0,
        action_mask_ratio=0.5, dataloader_num_workers=0,
    )
    args = EpisodeArgs(rollout="episode", env_id="CoTDiag-ALFWorld-v0", split="valid_seen", episodes=2,
                       max_turns=2, max_turn_tokens=12, max_episode_tokens=600)
    make_env = functools.partial(DecodedEnvFactory(args.env_id, "cot", max_episode_steps=10, protocol=DecodingProtocol()),
                                 split=args.split)  # the one factory of every run (#20)
    res = train_episode_grpo(str(sft_micro), cfg, args, make_env=make_env)
    assert res["steps"] == 2 and len(res["episodes"]) >= 4
    logged = [h for h in res["log_history"] if "episode/success" in h]
    assert logged and all("rollout/tokens_per_s" in h and "loss" in h for h in logged)
    assert (tmp_path / "grpo" / "config.json").is_file()


def test_cli_train_grpo_rollout_episode(tmp_path, sft_micro):
    import json

    from typer.testing import CliRunner

    from cotdiag.cli import app

    out = tmp_path / "cli"
    res = CliRunner().invoke(app, [
        "train", "grpo", "--rollout", "episode", "--model", str(sft_micro), "--output_dir", str(out),
        "--env_id", "CoTDiag-ALFWorld-v0", "--split", "valid_seen", "--episodes", "2", "--max_turns", "1",
        "--max_turn_tokens", "8", "--max_steps", "1", "--per_device_train_batch_size", "2", "--num_generations", "2",
        "--save_strategy", "no", "--report_to", "none",
    ])
    assert res.exit_code == 0, res.output
    episodes = [json.loads(x) for x in (out / "episodes.jsonl").read_text().splitlines()]
    assert len(episodes) == 2 and all(e["end"] == "max_turns" or e["end"] == "terminated" for e in episodes)
    assert len({(e["task_id"], e["seed"]) for e in episodes}) == 1  # one group: G episodes of one task and seed


def test_sft_model_acts_through_the_response_tags_in_episodes(sft_micro):
    """The micro model's tags are special tokens: the env must receive them (no format error at turn 1)."""
    rollout, out, _, _ = _rollout(sft_micro, 0.0, max_turns=1, temperature=0.2)
    assert rollout.last_stats["episode/format_error_rate"] < 0.5
