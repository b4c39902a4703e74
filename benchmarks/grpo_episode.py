"""Whole-episode GRPO on CPU: does mean episode reward rise where the right actions are learnable?

The env is the scripted three-step task of ``cotdiag.testing`` (open box, take key, unlock door),
where the right action at each step is learnable from the observation. The policy is the micro
model of the test suite (a ~0.1M-parameter Qwen2 with a byte-level BPE tokenizer trained on the
env's texts) after a short SFT on expert data (``--sft-steps``). Then ``--steps`` GRPO steps on
whole episodes (``cotdiag.baselines.grpo.train_episode_grpo``: ``G`` episodes per task and seed,
episode reward = success - 0.1 per format error), with action masking ``k`` = 0 and 0.3.

Training plays tasks ``task/0``-``task/2`` only (SFT and GRPO); every evaluation plays the same
``--eval-episodes`` episodes of the held-out tasks ``task/3``-``task/14`` (the scripted tasks differ
only in the task id the observation names, so "held-out" tests that the policy did not memorise
its training prompts, not transfer to new dynamics).

Measured, side by side in one run: the episode success rate and mean reward of the sampled policy
(temperature 0.7, as in training) on the held-out episodes before and after GRPO, with Wilson 95%
intervals; the k = 0.3 minus k = 0 success difference with Newcombe's 95% interval (unpaired, so
conservative); rollout tokens/s and env steps/s during training (means over steps). A GPU run of
SmolLM2 on ALFWorld (the issue's >= 50-step study) needs a device and is not part of this script.

Usage: ``python benchmarks/grpo_episode.py [--steps 30] [--sft-steps 60]``; writes
``benchmarks/results/grpo_episode.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import torch

RESULTS = Path(__file__).parent / "results" / "grpo_episode.json"
#: Sampling temperature of training rollouts and of the before/after evaluation.
TEMPERATURE = 0.7


TRAIN_TASKS = ("task/0", "task/1", "task/2")
HELD_OUT_TASKS = tuple(f"task/{i}" for i in range(3, 15))


def chat_env(tasks: tuple[str, ...] = TRAIN_TASKS):
    from cotdiag.testing import make_scripted
    from cotdiag.wrappers.decoding import DecodingModeWrapper

    return DecodingModeWrapper(make_scripted(max_episode_steps=6, task_ids=tasks), mode="cot", chat=True)


def held_out_env():
    return chat_env(HELD_OUT_TASKS)


def sft_micro(work: Path, steps: int) -> Path:
    """The test suite's micro model, after ``steps`` SFT steps on 3 expert episodes of the scripted env."""
    from cotdiag.baselines.data import build_dataset
    from cotdiag.baselines.sft import ActionMaskSFTConfig, train_sft
    from cotdiag.baselines.tiny import MICRO_CONFIG, make_tiny_default
    from cotdiag.response.format import DEFAULT_FORMAT
    from cotdiag.testing import make_scripted

    ds = build_dataset("scripted", episodes=3, traces=lambda s: f"The task needs me to {s['action']} next.",
                       make_env=lambda **kw: make_scripted(task_ids=TRAIN_TASKS, **kw))
    texts = []
    for ex in ds:
        texts += [ex["prompt"], ex["prompt_for_prompt_mode"], DEFAULT_FORMAT.cot_response(ex["trace"], ex["action"])]
    micro = make_tiny_default(texts * 5, work / "micro", MICRO_CONFIG)
    cfg = ActionMaskSFTConfig(output_dir=str(work / "sft"), max_steps=steps, per_device_train_batch_size=9,
                              learning_rate=5e-3, save_strategy="no", disable_tqdm=True, lr_scheduler_type="linear",
                              warmup_steps=0, logging_steps=10)
    train_sft(ds, str(micro), cfg)
    return work / "sft"


def sampled_success(model_dir: Path, episodes: int, seed: int) -> dict:
    """Success rate and mean reward of the sampled policy (``TEMPERATURE``) on whole episodes of the
    held-out tasks (the same ``episodes`` (task, seed) pairs for every model at the same ``seed``)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from cotdiag.baselines.episodes import EpisodeReward, EpisodeRollout, episode_dataset
    from cotdiag.stats import wilson_interval

    tok = AutoTokenizer.from_pretrained(model_dir)
    data, specs = episode_dataset(held_out_env, tok, episodes=len(HELD_OUT_TASKS), seed=seed)
    rollout = EpisodeRollout(specs, held_out_env, max_turns=6, max_turn_tokens=24, max_episode_tokens=600, seed=seed)
    trainer = SimpleNamespace(processing_class=tok, model=AutoModelForCausalLM.from_pretrained(model_dir),
                              args=SimpleNamespace(temperature=TEMPERATURE, top_p=1.0, top_k=0))
    torch.manual_seed(seed)
    prompts = [data["prompt"][i % len(data)] for i in range(episodes)]
    out = rollout(prompts, trainer)
    rewards = EpisodeReward()(prompts, [], episode_success=out["episode_success"],
                              episode_score=out["episode_score"], format_errors=out["format_errors"])
    wins = int(sum(out["episode_success"]))
    return {"episodes": episodes, "successes": wins, "tasks": sorted({specs[p][0] for p in prompts}),
            "success_rate": wins / episodes, "success_rate_ci95": list(wilson_interval(wins, episodes)),
            "mean_reward": sum(rewards) / episodes, "mean_turns": sum(out["turns"]) / episodes}


def grpo(model_dir: Path, out: Path, k: float, steps: int, lr: float) -> dict:
    from cotdiag.baselines.episodes import EpisodeArgs
    from cotdiag.baselines.grpo import ActionMaskGRPOConfig, train_episode_grpo

    cfg = ActionMaskGRPOConfig(
        output_dir=str(out), max_steps=steps, per_device_train_batch_size=8, num_generations=4, learning_rate=lr,
        beta=0.0, temperature=TEMPERATURE, logging_steps=1, save_strategy="no", disable_tqdm=True, seed=0, action_mask_ratio=k,
        dataloader_num_workers=0,
    )
    args = EpisodeArgs(rollout="episode", episodes=3, max_turns=6, max_turn_tokens=24, max_episode_tokens=600)
    t0 = time.perf_counter()
    res = train_episode_grpo(str(model_dir), cfg, args, make_env=chat_env)
    logs = [h for h in res["log_history"] if "rollout/tokens_per_s" in h]

    def mean(key: str) -> float:
        return sum(h[key] for h in logs) / len(logs)

    return {"steps": res["steps"], "wall_s": time.perf_counter() - t0, "rollout_tokens_per_s": mean("rollout/tokens_per_s"),
            "env_steps_per_s": mean("rollout/env_steps_per_s"), "train_success_first": logs[0]["episode/success"],
            "train_success_last": logs[-1]["episode/success"], "episodes_played": len(res["episodes"])}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--sft-steps", type=int, default=60)
    ap.add_argument("--eval-episodes", type=int, default=48)
    ap.add_argument("--lr", type=float, default=2e-4)
    args = ap.parse_args()
    torch.set_num_threads(1)
    work = Path(tempfile.mkdtemp(prefix="grpo_episode_"))
    sft = sft_micro(work, args.sft_steps)
    before = sampled_success(sft, args.eval_episodes, seed=1)
    runs = {}
    for k in (0.0, 0.3):
        train = grpo(sft, work / f"grpo_k{k:g}", k, args.steps, args.lr)
        runs[f"k={k:g}"] = {"train": train, "after": sampled_success(work / f"grpo_k{k:g}", args.eval_episodes, seed=1)}
    from cotdiag.stats import newcombe_difference_interval

    a0, a3 = runs["k=0"]["after"], runs["k=0.3"]["after"]
    diff = {"value": a3["success_rate"] - a0["success_rate"],
            "ci95_newcombe": list(newcombe_difference_interval(a0["successes"], a0["episodes"], a3["successes"], a3["episodes"]))}
    diff["finding"] = ("the interval contains 0" if diff["ci95_newcombe"][0] <= 0 <= diff["ci95_newcombe"][1] else
                       "the interval excludes 0") + (
        "; one training run per arm: the interval covers the evaluation episodes, not the variance between "
        "GRPO runs (seeds), so it is no finding about k")
    import transformers
    import trl

    import cotdiag

    report = {
        "what": "whole-episode GRPO on the scripted 3-step env, micro model after SFT; sampled policy",
        "temperature": TEMPERATURE, "beta": 0.0, "learning_rate": args.lr,
        "sft_steps": args.sft_steps, "grpo_steps": args.steps, "group_size": 4, "batch": 8,
        "train_tasks": list(TRAIN_TASKS), "eval_tasks": list(HELD_OUT_TASKS),
        "before": before, "runs": runs, "k0.3_minus_k0_success": diff,
        "not_measured": "SmolLM2 on ALFWorld for >= 50 GRPO steps (needs a GPU; none was lent to this session)",
        "versions": {"cotdiag": cotdiag.__version__, "torch": torch.__version__, "transformers": transformers.__version__,
                     "trl": trl.__version__, "python": platform.python_version()},
        "machine": f"{platform.machine()}, {torch.get_num_threads()} torch thread(s)",
    }
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
