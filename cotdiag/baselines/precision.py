"""Training precision: when bfloat16 is the default, and the optimizer that trains bfloat16 weights.

Measured on this project's CPU (2 cores of an AMD EPYC with AVX512_BF16; SmolLM2-135M, conversation
examples of ALFWorld, 8 steps per arm, ``benchmarks/results/cpu_training.json``): bfloat16 autocast
with float32 master weights runs at 1.5x float32's tokens/s (1.50 and 1.55 in two quiet runs) and
follows its loss step for step, so ``train sft`` defaults to it on CPUs with native bfloat16 as on
GPUs. Weights stored in bfloat16
(``--model_dtype bfloat16``) save the master copy, but a plain AdamW step smaller than half of
bfloat16's spacing rounds back to the old weight and is lost; torchao's AdamW with stochastic
rounding (``--bf16_stochastic_round``) rounds up or down with the probabilities that keep the
update unbiased in expectation (Zamirai et al. 2020, "Revisiting BFloat16 Training",
arXiv 2010.06192).
"""

from __future__ import annotations

from typing import Any

from cotdiag.error import InvalidConfigError


def cuda_available() -> bool:
    """Whether a CUDA GPU is present."""
    import torch
    return bool(torch.cuda.is_available())


def cpu_bf16_native() -> bool:
    """Whether the CPU has native bfloat16 arithmetic (AVX512_BF16 or AMX tiles); without it bfloat16
    autocast is emulated and slower than float32. Uses torch's own CPU feature checks."""
    import torch

    checks = [getattr(torch.cpu, n, None) for n in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    return any(bool(c()) for c in checks if c is not None)


def weights_dtype(model_dtype: str, lora_r: int, bf16: bool) -> str:
    """The dtype ``train sft`` loads the weights in: ``model_dtype`` unless ``"auto"``; then
    ``"bfloat16"`` for a frozen LoRA base (``lora_r > 0``) trained under bfloat16 autocast, else
    ``"float32"`` (full fine-tuning keeps float32 master weights; without autocast, as on a CPU
    without native bfloat16, a bfloat16 base runs emulated bfloat16 matmuls, measured several
    times slower than float32 on an AVX2-only CPU).

    Example:
        >>> weights_dtype("auto", 16, bf16=True), weights_dtype("auto", 16, bf16=False)
        ('bfloat16', 'float32')
    """
    if model_dtype != "auto":
        return model_dtype
    return "bfloat16" if lora_r and bf16 else "float32"


def auto_bf16(cpu: bool = False) -> bool:
    """Whether bfloat16 autocast is the default: on a CUDA GPU with bfloat16 support; with ``cpu``,
    also on a CPU with native bfloat16 instructions (:func:`cpu_bf16_native`).

    ``train sft`` passes ``cpu=True`` (measured, see the module docstring). GRPO keeps float32 on
    the CPU (not measured there).
    """
    import torch

    if torch.cuda.is_available():
        return bool(torch.cuda.is_bf16_supported())
    return cpu and cpu_bf16_native()


def stochastic_rounding_optimizer(config: Any) -> tuple[type, dict[str, Any]]:
    """torchao's AdamW with bfloat16 stochastic rounding, with ``config``'s learning rate, betas,
    epsilon and weight decay: the ``optimizer_cls_and_kwargs`` of a ``transformers.Trainer``.

    Raises:
        InvalidConfigError: torchao is not installed.
    """
    try:
        from torchao.optim import (
            _AdamW,  # torchao's plain AdamW (exported under this name since 0.10)
        )
    except ImportError as e:
        raise InvalidConfigError("--bf16_stochastic_round needs torchao: pip install 'cotdiag[bf16]'") from e
    return _AdamW, {"lr": config.learning_rate, "betas": (config.adam_beta1, config.adam_beta2),
                    "eps": config.adam_epsilon, "weight_decay": config.weight_decay,
                    "bf16_stochastic_round": True}
