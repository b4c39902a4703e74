"""Admissible-action scoring of the shipped agent: all candidates in one tree-masked forward vs one forward each.

On real ALFWorld CoT states (``eval_id_task_types``, the agent's own greedy responses), the
summed log-probability of every admissible action after the response prefix is computed by
:meth:`cotdiag.agents.hf.HFPolicy.score_candidates` (the candidates' tokens in one forward on the
episode's cache, each seeing only its own earlier tokens: a 4-D attention mask) and by the
reference, one cached forward per candidate with the cache cropped back after each (what
``score_candidates`` did before). Both run on the same states, alternating, in one process;
``speedup`` = reference seconds / ours. ``max_abs_diff`` (nats) and ``same_choice`` compare the two.
Writes ``benchmarks/results/scoring.json``.

Usage: ``python benchmarks/scoring.py [--states 6] [--dtype float32]``
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
RESULTS = Path(__file__).parent / "results" / "scoring.json"


def one_by_one(policy, text: str, continuations: list[str]) -> list[float]:
    """The reference: each continuation's tokens run on the cache of ``text``, which is cropped back after it."""
    import torch
    from transformers import DynamicCache

    tok = policy.tokenizer
    head = tok(text, add_special_tokens=False)["input_ids"]
    cache = DynamicCache()
    scores = []
    with torch.inference_mode():
        out = policy.model(input_ids=torch.tensor([head]), past_key_values=cache, use_cache=True)
        last = torch.log_softmax(out.logits[0, -1].float(), dim=-1)
        for c in continuations:
            cand = tok(text + c, add_special_tokens=False)["input_ids"][len(head):]
            lp = float(last[cand[0]])
            if len(cand) > 1:
                o = policy.model(input_ids=torch.tensor([cand[:-1]]), past_key_values=cache, use_cache=True)
                logp = torch.log_softmax(o.logits[0].float(), dim=-1)
                lp += float(sum(logp[i, cand[i + 1]] for i in range(len(cand) - 1)))
                cache.crop(-(len(cand) - 1))
            scores.append(lp)
    return scores


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m-alfworld")
    ap.add_argument("--states", type=int, default=6)
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()

    import torch

    import cotdiag  # noqa: F401
    from cotdiag.agents import HFPolicy
    from cotdiag.rollout.factory import DecodedEnvFactory

    policy = HFPolicy(args.model, max_new_tokens=96, dtype=args.dtype)
    env = DecodedEnvFactory("CoTDiag-ALFWorld-v0", "cot", protocol=policy.protocol)(split="eval_id_task_types")
    obs, info = env.reset(seed=0)
    ours_s = ref_s = 0.0
    diffs, same, cands_n = [], 0, []
    for _ in range(args.states):
        text = policy.model_text(obs, info)
        completion = policy.generate([text])[0]
        k = completion.find("<action>")
        head = text + (completion[: k + len("<action>")] if k >= 0 else completion + "<action>")
        cands = [a + "</action>" for a in info["admissible_actions"]]
        t = time.perf_counter()
        ref = one_by_one(policy, head, cands)
        ref_s += time.perf_counter() - t
        policy.reset()  # no cache carried in: both start from the text alone
        t = time.perf_counter()
        ours = policy.score_candidates(head, cands)
        ours_s += time.perf_counter() - t
        diffs.append(max(abs(a - b) for a, b in zip(ours, ref, strict=True)))
        same += max(range(len(cands)), key=ours.__getitem__) == max(range(len(cands)), key=ref.__getitem__)
        cands_n.append(len(cands))
        obs, _r, term, trunc, info = env.step(completion)
        if term or trunc:
            obs, info = env.reset(seed=1)
    out = {
        "benchmark": "admissible-action scoring: one tree-masked forward vs one forward per candidate",
        "model": args.model, "dtype": args.dtype, "torch_threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(), "states": args.states,
        "candidates_mean": round(sum(cands_n) / len(cands_n), 1),
        "ours_s_per_state": round(ours_s / args.states, 3), "reference_s_per_state": round(ref_s / args.states, 3),
        "speedup": round(ref_s / ours_s, 3), "speedup_goal": ">= 2",
        "max_abs_diff": max(diffs), "same_choice": same / args.states,
        "note": "both from the state's text with no cache carried in (a first turn's cost); one run, 2 shared cores",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
