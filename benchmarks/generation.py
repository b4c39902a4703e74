"""Batched HF generation (batch 8, left padding) vs sequential, tokens per second.

Builds the embedded default (tiny Qwen2, tokenizer trained on ALFWorld-like text), then greedily
generates ``max_new_tokens`` for 8 prompts of about 200 tokens, once as 8 sequential
``HFPolicy.act`` calls and once as one ``HFPolicy.act_batch`` call (stop tokens disabled so both
generate the full budget). Alternating repetitions; the median of each is reported.
Writes ``benchmarks/results/generation.json`` (key ``batched_speedup_ratio``, goal >= 3).
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

OUT = Path(__file__).resolve().parent / "results" / "generation.json"
OBS = ("You arrive at countertop {i}. On the countertop {i}, you see a apple {i}, a bread 2, a butterknife 3, "
       "a cup 1, a dishsponge 2, a egg 1, a fork 3, a knife 2, a lettuce 1, a mug {i}, a pan 1, a peppershaker 2, "
       "a plate 3, a potato 1, a saltshaker 1, a soapbottle 2, a spatula 1, a spoon 3, and a tomato 1.")


def main(batch: int = 8, max_new_tokens: int = 32, reps: int = 3) -> dict:
    import torch

    from cotdiag.agents.hf import HFPolicy
    from cotdiag.baselines.tiny import TinyModelConfig, make_tiny_default
    from cotdiag.response import render_prompt

    torch.set_num_threads(1)
    prompts = [render_prompt("put a clean mug in coffeemachine.", OBS.format(i=i + 1)) for i in range(batch)]
    with tempfile.TemporaryDirectory() as tmp:
        path = make_tiny_default(prompts * 10, tmp, TinyModelConfig())
        pol = HFPolicy(path, max_new_tokens=max_new_tokens, batch_size=batch)
        pol._eos_ids = [-1]  # generate the full budget in both arms (no early stop)
        prompt_tokens = [len(pol.tokenizer(pol.model_text(p, {"prefill": ""}))["input_ids"]) for p in prompts]
        infos = [{"prefill": ""}] * batch
        pol.act_batch(prompts[:2], infos[:2])  # warm-up
        seq, bat = [], []
        for _ in range(reps):
            g0, t0 = pol.generated_tokens, time.perf_counter()
            for p, i in zip(prompts, infos, strict=True):
                pol.act(p, i)
            seq.append((pol.generated_tokens - g0) / (time.perf_counter() - t0))
            g0, t0 = pol.generated_tokens, time.perf_counter()
            pol.act_batch(prompts, infos)
            bat.append((pol.generated_tokens - g0) / (time.perf_counter() - t0))
        n_params = sum(p.numel() for p in pol.model.parameters())
    s, b = statistics.median(seq), statistics.median(bat)
    res = {
        "benchmark": "HFPolicy greedy generation, batch 8 (act_batch, left padding) vs 8 sequential act calls",
        "model": f"tiny Qwen2 ({n_params / 1e6:.2f}M parameters), CPU float32, 1 torch thread",
        "batch_size": batch, "max_new_tokens": max_new_tokens, "prompt_tokens_mean": statistics.mean(prompt_tokens),
        "repetitions": reps, "sequential_tokens_per_s": round(s, 1), "batched_tokens_per_s": round(b, 1),
        "sequential_tokens_per_s_runs": [round(x, 1) for x in seq], "batched_tokens_per_s_runs": [round(x, 1) for x in bat],
        "batched_speedup_ratio": round(b / s, 3), "batched_speedup_ratio_goal": ">= 3",
        "cpus_visible": os.cpu_count(),
        "note": "2 CPU cores shared with other engineers' jobs; timings are noisy",
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(res, indent=2) + "\n")
    return res


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
