"""CPU training recipes for SmolLM2-135M side by side: tokens/s and loss after the same steps.

Every arm trains SmolLM2-135M-Instruct (``smollm2-135m``) with :func:`cotdiag.baselines.sft.train_sft`
(TRL's ``SFTTrainer``) on the same real conversation examples (expert episodes of ALFWorld
``train_id``, CoT format, :mod:`cotdiag.baselines.conversation`), the same seed, batch and learning
rate, for ``steps`` optimizer steps, one arm after the other in one process on the same machine:

* ``fp32``: full fine-tuning in float32 (the reference);
* ``bf16_autocast``: full fine-tuning, float32 master weights, bfloat16 autocast (``--bf16``);
* ``lora_bf16``: LoRA r=16 on every linear layer (peft), the base frozen in bfloat16, float32
  adapters, bfloat16 autocast;
* ``frozen20_bf16``: the lower 20 of 30 decoder layers frozen, bfloat16 autocast;
* ``bf16_weights_sr``: full fine-tuning of weights stored in bfloat16 (no float32 master copy) with
  torchao's AdamW and bfloat16 stochastic rounding (``--bf16_stochastic_round``,
  :mod:`cotdiag.baselines.precision`).

tokens/s = input tokens (TRL's ``num_tokens``) / ``train_runtime``; ``steady_tokens_per_s`` leaves out
the first step (warm-up, and torchao's ``torch.compile`` of its optimizer step per parameter
shape; ``step_s`` lists the seconds of steps 2..n); ``decisions_per_s`` = examples trained x the
data's mean decisions per example / runtime;
``loss_last`` = the mean loss of the last ``steps // 2`` logged steps. ``torch.compile`` of the
model is not an arm: TRL's trainer compiles through ``torch_compile=True``, which on this CPU build
spent longer compiling than the run takes (see ``notes``). Writes ``benchmarks/results/cpu_training.json``.

Usage: ``python benchmarks/cpu_training.py [--steps 8] [--episodes 16] [--arms ...] [--out FILE]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

OUT = Path(__file__).resolve().parent / "results" / "cpu_training.json"

ARMS: dict[str, dict] = {
    "fp32": {"bf16": False},
    "bf16_autocast": {"bf16": True},
    "lora_bf16": {"bf16": True, "lora_r": 16},
    "frozen20_bf16": {"bf16": True, "freeze_layers": 20},
    "bf16_weights_sr": {"bf16": True, "model_dtype": "bfloat16", "bf16_stochastic_round": True},
}


def _step_timer(times: list[float]):
    """A ``TrainerCallback`` that appends ``time.perf_counter()`` at the end of every optimizer step."""
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            times.append(time.perf_counter())

    return StepTimer()


def _freeze_lower(n: int):
    """A ``TrainerCallback`` that freezes the embeddings and the lower ``n`` decoder layers at train start."""
    from transformers import TrainerCallback

    class Freeze(TrainerCallback):
        def on_train_begin(self, args, state, control, model=None, **kw):
            model.get_input_embeddings().weight.requires_grad_(False)
            for layer in model.model.layers[:n]:
                layer.requires_grad_(False)

    return Freeze()


def main(steps: int = 8, episodes: int = 16, batch: int = 2, lr: float = 2e-4, arms: list[str] | None = None,
         out_path: Path = OUT) -> dict:
    import peft
    import torch
    import torchao
    import transformers
    import trl
    from datasets import load_from_disk

    from cotdiag.baselines.precision import cpu_bf16_native
    from cotdiag.baselines.sft import ActionMaskSFTConfig, train_sft
    from cotdiag.pipelines.data import build_data
    from cotdiag.response.protocol import load_protocol

    load0 = list(os.getloadavg())
    torch.manual_seed(0)
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        build_data("CoTDiag-ALFWorld-v0", "train_id", data, episodes)
        ds = load_from_disk(str(data))
        for name, arm in ARMS.items():
            if arms and name not in arms:
                continue
            arm = dict(arm)
            freeze = arm.pop("freeze_layers", 0)
            cfg = ActionMaskSFTConfig(output_dir=str(Path(tmp) / name), max_steps=steps, per_device_train_batch_size=batch,
                                      learning_rate=lr, warmup_steps=0, lr_scheduler_type="constant", logging_steps=1,
                                      save_strategy="no", seed=0, max_length=2048, **arm)
            t0, times = time.perf_counter(), []
            res = train_sft(ds, "smollm2-135m", cfg, protocol=load_protocol(data),
                            callbacks=[_step_timer(times)] + ([_freeze_lower(freeze)] if freeze else []))
            wall = time.perf_counter() - t0
            logs = [h for h in res["log_history"] if "loss" in h]
            end = [h for h in res["log_history"] if "train_runtime" in h][-1]
            tokens = sum(int(h.get("num_tokens", 0)) for h in logs[-1:])  # TRL logs the running token count
            losses = [float(h["loss"]) for h in logs]
            steady = (tokens - int(logs[0].get("num_tokens", 0))) / (times[-1] - times[0]) if len(times) > 1 else None
            per_example = res["decisions"] / res["examples"]
            results[name] = {
                "config": {**arm, "freeze_layers": freeze}, "steps": res["steps"], "train_runtime_s": end["train_runtime"],
                "wall_s": round(wall, 1), "tokens": tokens, "tokens_per_s": tokens / end["train_runtime"],
                "steady_tokens_per_s": steady, "step_s": [round(b - a, 2) for a, b in zip(times, times[1:], strict=False)],
                "decisions_per_s": res["steps"] * batch * per_example / end["train_runtime"],
                "losses": losses, "loss_last": sum(losses[-(steps // 2):]) / max(1, steps // 2),
            }
            print(name, {k: v for k, v in results[name].items() if k != "losses"}, flush=True)
    ref = results.get("fp32")
    for r in results.values():
        if ref:
            r["speedup_vs_fp32"] = r["tokens_per_s"] / ref["tokens_per_s"]
            both = r["steady_tokens_per_s"] and ref["steady_tokens_per_s"]
            r["steady_speedup_vs_fp32"] = r["steady_tokens_per_s"] / ref["steady_tokens_per_s"] if both else None
            r["loss_last_minus_fp32"] = r["loss_last"] - ref["loss_last"]
    out = {
        "what": "SmolLM2-135M SFT on ALFWorld conversation examples (CoT), CPU, same steps/seed/batch/lr per arm",
        "steps": steps, "episodes": episodes, "examples": len(ds), "batch": batch, "learning_rate": lr,
        "threads": torch.get_num_threads(), "machine": platform.processor() or platform.machine(),
        "cpu_bf16_native": cpu_bf16_native(), "loadavg_at_start": load0, "loadavg_at_end": list(os.getloadavg()),
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__, "trl": trl.__version__,
                     "peft": peft.__version__, "torchao": torchao.__version__},
        "arms": results,
        "notes": "torch.compile not measured as an arm (compile time exceeds these runs on 2 cores). "
                 "Loss after so few steps only shows that an arm is not broken, not that it converges like fp32.",
    }
    out_path.write_text(json.dumps(out, indent=2) + "\n")
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--episodes", type=int, default=16)
    ap.add_argument("--arms", nargs="*", default=None, help=f"subset of {list(ARMS)}")
    ap.add_argument("--out", type=Path, default=OUT)
    a = ap.parse_args()
    main(a.steps, a.episodes, arms=a.arms, out_path=a.out)
