"""Batched decoding of the shipped agent on long cached prompts: the episodes' caches stacked into a
``StaticCache`` (what :func:`cotdiag.agents.hf_batch.act_slots` does) vs a ``DynamicCache``.

Late in an ALFWorld episode each of the 16 episodes decoded together has 1,300 to 1,900 cached
tokens. A ``DynamicCache`` concatenates the whole batch's keys and values again for every decoded
token; a ``StaticCache`` writes each token in place. Both arms decode the same left-padded batch
(16 rows of 1,300 + 25 b random tokens, cached as ``act_slots`` caches them, float32, greedy,
exactly ``--new-tokens`` tokens) with ``model.generate``, alternating, best of ``--reps``; the
tokens must be equal. Writes ``benchmarks/results/batched_cache.json`` (``speedup`` = dynamic
seconds / static seconds).

Usage: ``python benchmarks/batched_cache.py [--batch 16] [--new-tokens 32] [--reps 2]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

OUT = Path(__file__).resolve().parent / "results" / "batched_cache.json"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m-alfworld")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--new-tokens", type=int, default=32)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()

    import torch
    from transformers import DynamicCache

    from cotdiag.agents import HFPolicy
    from cotdiag.agents.hf_batch import _stack
    from cotdiag.agents.hf_cache import CACHE_KWARG

    model = HFPolicy(args.model, dtype="float32").model
    gen = torch.Generator().manual_seed(0)
    lens = [1300 + 25 * b for b in range(args.batch)]
    rows = [torch.randint(100, 20000, (n,), generator=gen).tolist() for n in lens]
    width = max(lens)
    pads = [width - n for n in lens]
    with torch.inference_mode():
        caches = [model(input_ids=torch.tensor([r[:-1]]), use_cache=True, logits_to_keep=1).past_key_values
                  for r in rows]
        ids = torch.tensor([[0] * k + r for k, r in zip(pads, rows, strict=True)])
        mask = torch.tensor([[0] * k + [1] * len(r) for k, r in zip(pads, rows, strict=True)])

        def dynamic() -> DynamicCache:
            merged = DynamicCache()
            for i in range(len(caches[0].layers)):
                merged.update(*(torch.cat([torch.nn.functional.pad(getattr(c.layers[i], kv), (0, 0, k, 0))
                                           for c, k in zip(caches, pads, strict=True)]) for kv in ("keys", "values")), i)
            return merged

        def static():
            return _stack(caches, pads, torch, model.config, width - 1 + args.new_tokens)

        seconds, tokens = {"dynamic": [], "static": []}, {}
        for _ in range(args.reps):
            for name, make in (("dynamic", dynamic), ("static", static)):
                cache = make()
                t0 = time.perf_counter()
                out = model.generate(input_ids=ids, attention_mask=mask, **{CACHE_KWARG: cache}, do_sample=False,
                                     max_new_tokens=args.new_tokens, min_new_tokens=args.new_tokens, pad_token_id=0)
                seconds[name].append(time.perf_counter() - t0)
                tokens[name] = out[:, width:]
    same = bool(torch.equal(tokens["dynamic"], tokens["static"]))
    result = {
        "what": "batched greedy decoding, shipped agent, float32: stacked caches as StaticCache vs DynamicCache",
        "batch": args.batch, "cached_tokens": [n - 1 for n in lens], "new_tokens": args.new_tokens,
        "threads": torch.get_num_threads(), "seconds": seconds,
        "dynamic_s": min(seconds["dynamic"]), "static_s": min(seconds["static"]),
        "speedup": min(seconds["dynamic"]) / min(seconds["static"]), "same_tokens": same,
        "platform": platform.platform(), "torch": torch.__version__,
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"dynamic {result['dynamic_s']:.1f} s, static {result['static_s']:.1f} s: x{result['speedup']:.2f}, "
          f"same tokens: {same}")
    if not same:
        raise SystemExit("the two caches decoded different tokens")


if __name__ == "__main__":
    main()
