"""Cost of the attention + gradient analysis against one plain forward and backward pass.

Both sides run the same model on the same input (an ALFWorld-like decision state: a long prompt,
a CoT trace and an action, tokenized by a tokenizer trained on such text):

* plain: ``model(input_ids, labels=input_ids)`` with the model's default attention kernel (SDPA),
  then ``loss.backward()`` (parameter gradients, as in training);
* analysis: :func:`cotdiag.diagnostics.attribution.attribute` (SDPA plus the action rows'
  attention probabilities, action-only loss, gradients at the input embeddings and the ``o_proj``
  inputs, and the span shares with and without the first token).

``paths_max_abs_diff`` checks the default (rows) path against the eager path with full attention
maps on the same input: the largest difference of any reported share.

``cost_ratio`` = min analysis time / min plain time over interleaved repeats (goal <= 3); the
ratio of medians is reported as ``cost_ratio_median``. Writes
``benchmarks/results/attribution.json``.

Usage: ``python benchmarks/attribution.py [--repeats 10]``; on a GPU, e.g.
``python benchmarks/attribution.py --device cuda --dtype bfloat16 --shape qwen2-0.5b --history 64
--out benchmarks/results/attribution_cuda.json`` (a randomly initialised model with the layer sizes
of Qwen2-0.5B: the cost depends on the shapes, not on the weights).
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import statistics
import time
from pathlib import Path

import torch
from device_parity import flat_values  # benchmarks/ is on sys.path when a script here runs

from cotdiag.baselines.tiny import TinyModelConfig, build_tiny_model, train_tokenizer
from cotdiag.diagnostics.attention import encode_example
from cotdiag.diagnostics.attribution import attribute
from cotdiag.response.prompt import HistoryConfig, HistoryStep, render_prompt

ROOM = ("You are in the middle of a room. Looking quickly around you, you see " +
        ", ".join(f"a cabinet {i}" for i in range(1, 12)) + ", a coffeemachine 1, a countertop 1, " +
        ", ".join(f"a drawer {i}" for i in range(1, 8)) + ", a fridge 1, a sinkbasin 1 and a toaster 1.")


def make_input(n_history: int) -> tuple[str, str, str]:
    hist = [HistoryStep(f"You arrive at cabinet {i}. The cabinet {i} is closed.", f"open cabinet {i}") for i in range(1, n_history + 1)]
    prompt = render_prompt("put a hot mug in coffeemachine.", ROOM, hist, mode="cot",
                           config=HistoryConfig(window=None)) + "\n"
    trace = ("The goal needs a hot mug in the coffeemachine. I have not found a mug yet; cabinets and "
             "countertops usually hold mugs, and I have not looked in cabinet 5, so I open it next.")
    return prompt, trace, "open cabinet 5"


#: Layer sizes of the benchmark model: the embedded default, or those of Qwen2-0.5B.
SHAPES = {
    "tiny": TinyModelConfig(),
    "qwen2-0.5b": TinyModelConfig(hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                                  num_attention_heads=14, num_key_value_heads=2, max_position_embeddings=32768),
}


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def interleaved_times(fns, repeats: int) -> list[list[float]]:
    """Wall times of each function, calls interleaved (so load drifting on shared CPUs hits both);
    CUDA work is synchronized before each clock reading."""
    for fn in fns:
        fn()  # warm-up
    ts: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for k, fn in enumerate(fns):
            _sync()
            t = time.perf_counter()
            fn()
            _sync()
            ts[k].append(time.perf_counter() - t)
    return ts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--history", type=int, default=8, help="past steps in the prompt (sets the length)")
    ap.add_argument("--vocab", type=int, default=300, help="BPE vocabulary of the benchmark tokenizer")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="float32", help="model dtype: float32, bfloat16, ...")
    ap.add_argument("--shape", default="tiny", choices=sorted(SHAPES), help="layer sizes of the model")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "attribution.json")
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(2)
    prompt, trace, action = make_input(args.history)
    # A small vocabulary keeps the sequence near the length a real tokenizer gives such a state.
    tok = train_tokenizer([prompt, trace, action], vocab_size=args.vocab)
    cfg = SHAPES[args.shape]
    model = build_tiny_model(tok, cfg).to(device=args.device, dtype=getattr(torch, args.dtype)).eval()
    plain_model = copy.deepcopy(model)
    plain_model.set_attn_implementation("sdpa")
    ex = encode_example(tok, prompt, trace, action)
    ids = ex.input_ids.to(args.device)

    def plain() -> None:
        plain_model.zero_grad(set_to_none=True)
        out = plain_model(input_ids=ids, labels=ids)
        out.loss.backward()

    def analysis() -> None:
        attribute(model, ex)

    # The default (rows) path against the eager reference path: largest difference of any share.
    fast, ref = attribute(model, ex, attention_path="rows"), attribute(model, ex, attention_path="eager")
    keys = ("attention", "attention_no_sink", "gradient", "gradient_no_sink")
    fa, ra = flat_values({k: fast[k] for k in keys}), flat_values({k: ref[k] for k in keys})
    paths_max_abs_diff = max(abs(fa[k] - ra[k]) for k in ra)

    ts_plain, ts_analysis = interleaved_times([plain, analysis], args.repeats)
    t_plain, t_analysis = min(ts_plain), min(ts_analysis)
    res = {
        "cost_ratio": t_analysis / t_plain,
        "goal": "<= 3",
        "plain_forward_backward_s": t_plain,
        "analysis_s": t_analysis,
        "cost_ratio_median": statistics.median(ts_analysis) / statistics.median(ts_plain),
        "plain_forward_backward_median_s": statistics.median(ts_plain),
        "analysis_median_s": statistics.median(ts_analysis),
        "tokens": int(ids.shape[1]),
        "paths_max_abs_diff": paths_max_abs_diff,
        "span_tokens": ex.span_lengths,
        "model": {"shape": args.shape, "dtype": args.dtype,
                  **{k: getattr(cfg, k) for k in ("hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads")},
                  "parameters": sum(p.numel() for p in model.parameters()), "vocab": len(tok)},
        "repeats": args.repeats,
        "timing": "cost_ratio uses the minimum wall time per example over the repeats (timeit's advice: the minimum is the least disturbed by other processes); medians are reported too; one warm-up call each, plain and analysis calls interleaved",
        "device": args.device if args.device == "cpu" else torch.cuda.get_device_name(), "torch_threads": torch.get_num_threads(),
        "versions": {"torch": torch.__version__, "python": platform.python_version()},
        "note": "analysis = attribute(): SDPA forward plus the action rows' attention probabilities (rows path), activation gradients (no parameter gradients) and span shares with and without the first token; plain = SDPA forward + backward with parameter gradients; paths_max_abs_diff = largest difference of any share between the rows path and the eager path (full attention maps)",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2) + "\n")
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
