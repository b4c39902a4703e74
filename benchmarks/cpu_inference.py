"""bfloat16 vs float32 inference on the CPU: the same greedy actions? how much faster? Side by side.

The agent (default ``smollm2-135m-alfworld``) decodes greedily, in CoT and prompt mode, on a fixed
set of held-out decision states: the model inputs of expert episodes of ALFWorld
``eval_id_task_types`` under the agent's decoding protocol (conversation prefixes). Each state is
decoded in float32 and in bfloat16 (weights and activations), alternating per state; the report
gives the share of states whose parsed action agrees, the share whose whole response agrees, and
the generated tokens per second of each dtype. Writes ``benchmarks/results/cpu_inference.json``.

Usage: ``python benchmarks/cpu_inference.py [--model smollm2-135m-alfworld] [--states 40]``
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
OUT = Path(__file__).resolve().parent / "results" / "cpu_inference.json"


def states(protocol, n: int, episodes: int) -> list[dict]:
    """``n`` decision states (chat messages up to the state) spread over ``episodes`` expert episodes."""
    from cotdiag.baselines.data import build_dataset

    ds = build_dataset("CoTDiag-ALFWorld-v0", "eval_id_task_types", episodes=episodes, protocol=protocol)
    out = []
    per = max(1, n // max(1, len(ds)))
    for ex in ds:
        for mode, key in (("cot", "messages"), ("prompt", "messages_prompt_mode")):
            msgs = ex[key]
            turns = [i for i, m in enumerate(msgs) if m["role"] == "assistant"]
            for i in turns[:: max(1, len(turns) // per)][:per]:
                out.append({"mode": mode, "messages": msgs[:i], "task_id": ex["task_id"]})
    return out[: 2 * n]


def main(model: str = "smollm2-135m-alfworld", n: int = 40, episodes: int = 10) -> dict:
    import torch

    from cotdiag.agents import HFPolicy
    from cotdiag.response.parsing import parse_response

    pols = {dt: HFPolicy(model, dtype=dt, max_new_tokens=96) for dt in ("float32", "bfloat16")}
    sts = states(pols["float32"].protocol, n, episodes)
    outs: dict[str, list[str]] = {dt: [] for dt in pols}
    secs = {dt: 0.0 for dt in pols}
    toks = {dt: 0 for dt in pols}
    for s in sts:
        info = {"prefill": "<action>" if s["mode"] == "prompt" else "", "messages": s["messages"]}
        for dt, p in pols.items():
            p.reset(seed=0)
            before = p.generated_tokens
            t = time.perf_counter()
            outs[dt].append(p.act("", info))
            secs[dt] += time.perf_counter() - t
            toks[dt] += p.generated_tokens - before

    def action(text: str, mode: str) -> str:
        r = parse_response(text, mode=mode, prefill="<action>" if mode == "prompt" else "")
        return r.action or ""

    same_action = [action(a, s["mode"]) == action(b, s["mode"]) for s, a, b in zip(sts, outs["float32"], outs["bfloat16"], strict=True)]
    same_text = [a == b for a, b in zip(outs["float32"], outs["bfloat16"], strict=True)]
    res = {
        "what": "greedy decoding of the agent on held-out ALFWorld states, float32 vs bfloat16 on the CPU",
        "model": model, "states": len(sts), "episodes": episodes, "threads": torch.get_num_threads(),
        "action_agreement": sum(same_action) / len(sts), "response_agreement": sum(same_text) / len(sts),
        "by_mode": {m: sum(x for x, s in zip(same_action, sts, strict=True) if s["mode"] == m)
                    / max(1, sum(s["mode"] == m for s in sts)) for m in ("cot", "prompt")},
        "tokens_per_s": {dt: toks[dt] / secs[dt] for dt in pols}, "seconds": secs,
        "speedup_bf16": (toks["bfloat16"] / secs["bfloat16"]) / (toks["float32"] / secs["float32"]),
        "versions": {"torch": torch.__version__},
    }
    OUT.write_text(json.dumps(res, indent=2) + "\n")
    print(json.dumps({k: v for k, v in res.items() if k != "seconds"}, indent=2))
    return res


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m-alfworld")
    ap.add_argument("--states", type=int, default=40)
    ap.add_argument("--episodes", type=int, default=10)
    a = ap.parse_args()
    main(a.model, a.states, a.episodes)
