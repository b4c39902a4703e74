"""Prompt tokens run per decision on recorded ALFWorld episodes: the context window dropped one turn
pair at a time (``context_drop_block=1``) vs in blocks of ``B`` pairs.

Past its token budget a conversation drops its oldest middle turns
(:func:`cotdiag.response.protocol.fit_conversation`). With ``block=1`` it drops one more pair every
turn, so the model input's prefix changes every turn and the key/value cache of the previous turn is
lost: the whole window (about 1,900 tokens for the shipped agent) runs again. With ``block=B`` the
kept turns start at the same place for about ``B`` turns, so only each turn's new tokens run, at the
cost of up to ``B - 1`` fewer visible pairs.

This benchmark counts that work exactly, without a model: it replays recorded episodes (their task
id, reset seed and completions) through the real environment and the agent's decoding protocol,
renders each turn's model input as :meth:`cotdiag.agents.HFPolicy.model_text` does for each block,
and counts the tokens a cached policy must run (the input minus its longest common token prefix
with the previous turn's input + completion, as :meth:`~cotdiag.agents.hf_cache.CacheScoringMixin._reusable_cache`
keeps). The completions are re-tokenized from their text (a generated sequence can tokenize
differently at a boundary; this only shifts a count by a token). Since prefill cost is about linear
in tokens run on a CPU at these lengths, ``prefill_ratio`` = tokens run with block 1 / with block B
approximates the prefill speed-up on the same episodes; generation cost is the same in both. With
``--time-episodes N`` the cached prefill of the first ``N`` episodes is also timed with the model
(float32 :class:`~cotdiag.agents.HFPolicy`, the blocks one after the other in this process):
``timed_prefill_ratio``. Writes ``benchmarks/results/context_drop.json``.

Usage: ``python benchmarks/context_drop.py --records RUN_DIR [--blocks 1,4,8,16] [--min-steps 30]
[--time-episodes 1]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

RESULTS = Path(__file__).parent / "results" / "context_drop.json"


def replay(record: dict, config: dict, tokenizer, protocol, blocks: list[int], budget: int) -> dict[int, dict]:
    """Per block: tokens run per turn and history pairs visible per turn, on one recorded episode."""
    import gymnasium as gym

    import cotdiag  # noqa: F401
    from cotdiag.agents.hf_cache import common_prefix_len
    from cotdiag.response.prompt import build_model_text
    from cotdiag.response.protocol import fit_conversation
    from cotdiag.wrappers import DecodingModeWrapper

    base = gym.make(config["env_id"], split=config["split"], max_episode_steps=config["max_episode_steps"])
    env = DecodingModeWrapper(base, mode=config["make_env"]["mode"], protocol=protocol)
    obs, info = env.reset(seed=record["seed"], options={"task_id": record["task_id"]})
    cache = {b: [] for b in blocks}
    out = {b: {"run": [], "pairs": [], "turns": []} for b in blocks}
    n_tok = {}

    def token_ids(msgs, prefill, observation):
        text = build_model_text(tokenizer, observation, prefill, messages=msgs)
        if text not in n_tok:
            n_tok[text] = tokenizer(text, add_special_tokens=False)["input_ids"]
        return n_tok[text]

    for completion in record["actions"]:
        prefill = str(info.get("prefill") or "")
        messages = info["messages"]
        comp = tokenizer(completion, add_special_tokens=False)["input_ids"]
        for b in blocks:
            msgs = messages
            if len(msgs) > 3:
                msgs = fit_conversation(msgs, lambda m, p=prefill, o=obs: len(token_ids(m, p, o)), budget, b)
            ids = token_ids(msgs, prefill, obs)
            out[b]["run"].append(len(ids) - common_prefix_len(cache[b], ids[:-1]))
            out[b]["pairs"].append((len(msgs) - 2) // 2)
            cache[b] = ids + comp
            out[b]["turns"].append((ids, comp))
        obs, _, terminated, truncated, info = env.step(completion)
        if terminated or truncated:
            break
    env.close()
    return out


def time_prefill(policy, turns: list[tuple[list[int], list[int]]]) -> float:
    """Seconds the policy's cached prefill takes over one episode's turns (``(input ids, completion
    ids)`` per turn), as :meth:`HFPolicy.act` runs it; the completion's tokens but its last are then
    added to the cache untimed, as generation leaves it (generation's part, the same for every block)."""
    import time

    import torch

    policy._kv, policy._kv_ids, total = None, [], 0.0
    with torch.inference_mode():
        for ids, comp in turns:
            t0 = time.perf_counter()
            cache, _ = policy._extend_cache(ids, len(ids))
            total += time.perf_counter() - t0
            policy._kv, policy._kv_ids = cache, list(ids)
            full = ids + comp
            policy._kv, _ = policy._extend_cache(full, len(full) - 1)
            policy._kv_ids = full[:-1]
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=Path, required=True, help="a run folder (config.json + episodes.jsonl)")
    ap.add_argument("--model", default="smollm2-135m-alfworld", help="its tokenizer and decoding protocol")
    ap.add_argument("--blocks", default="1,4,8,16")
    ap.add_argument("--min-steps", type=int, default=30, help="replay episodes at least this long")
    ap.add_argument("--time-episodes", type=int, default=0,
                    help="also time the cached prefill (float32 HFPolicy) on this many of the episodes")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()

    from transformers import AutoTokenizer

    from cotdiag.agents.pretrained import resolve_model
    from cotdiag.response.protocol import load_protocol

    folder = resolve_model(args.model)
    tokenizer, protocol = AutoTokenizer.from_pretrained(folder), load_protocol(folder)
    config = json.loads((args.records / "config.json").read_text())
    budget = int(config["policy_settings"]["max_prompt_tokens"])
    blocks = [int(b) for b in args.blocks.split(",")]
    records = [json.loads(x) for x in (args.records / "episodes.jsonl").read_text().splitlines()]
    records = [r for r in records if r["steps"] >= args.min_steps]
    if not records:
        raise SystemExit(f"no episode of {args.records} has {args.min_steps} or more steps")
    per_block = {b: {"run": [], "pairs": []} for b in blocks}
    timed = {b: {"seconds": 0.0, "decisions": 0} for b in blocks}
    policy = None
    if args.time_episodes:
        import torch

        from cotdiag.agents import HFPolicy

        policy = HFPolicy(args.model, dtype="float32")
        threads = torch.get_num_threads()
    for i, r in enumerate(records):
        for b, v in replay(r, config, tokenizer, protocol, blocks, budget).items():
            per_block[b]["run"] += v["run"]
            per_block[b]["pairs"] += v["pairs"]
            if policy is not None and i < args.time_episodes:
                timed[b]["seconds"] += time_prefill(policy, v["turns"])
                timed[b]["decisions"] += len(v["turns"])
    rows = {str(b): {"tokens_run_per_decision": sum(v["run"]) / len(v["run"]),
                     "full_prefills": sum(1 for x in v["run"] if x > budget // 2),
                     "mean_pairs_visible": sum(v["pairs"]) / len(v["pairs"]),
                     "decisions": len(v["run"])} for b, v in per_block.items()}
    ref = rows[str(blocks[0])]["tokens_run_per_decision"]
    for row in rows.values():
        row["prefill_ratio"] = ref / row["tokens_run_per_decision"]
    if policy is not None:
        for b, t in timed.items():
            rows[str(b)]["timed_prefill_s_per_decision"] = t["seconds"] / t["decisions"]
        t1 = rows[str(blocks[0])]["timed_prefill_s_per_decision"]
        for row in rows.values():
            row["timed_prefill_ratio"] = t1 / row["timed_prefill_s_per_decision"]
    result = {
        "what": "prompt tokens a cached policy runs per decision, by context_drop_block, on recorded episodes",
        "records": str(args.records), "model": args.model, "budget_tokens": budget,
        "episodes": len(records), "task_ids": [r["task_id"] for r in records],
        "blocks": rows, "prefill_ratio_block8": rows.get("8", {}).get("prefill_ratio"),
        "timed_episodes": min(args.time_episodes, len(records)),
        "timing": (f"float32, {threads} torch threads, the blocks one after the other on each timed episode"
                   if policy is not None else None),
        "note": "prefill_ratio = tokens run with the first block / with block B on the same decisions "
                "(counts); timed_prefill_ratio = the same for measured prefill seconds on the timed episodes; "
                "a full prefill is a turn that runs more than half the budget; generation is not counted",
        "platform": platform.platform(),
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    for b, row in rows.items():
        print(f"block {b:>2}: {row['tokens_run_per_decision']:7.1f} tokens/decision "
              f"(x{row['prefill_ratio']:.2f}), {row['full_prefills']} full prefills, "
              f"{row['mean_pairs_visible']:.1f} pairs visible"
              + (f", prefill {row['timed_prefill_s_per_decision']:.2f} s/decision" if policy is not None else ""))


if __name__ == "__main__":
    main()
