"""What an SFT run writes and reads besides the weights: LoRA adapters, the protocol and base-model
record in every checkpoint, the dtype its weights are saved in, and where a resumed run starts.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from cotdiag.error import InvalidConfigError
from cotdiag.response.protocol import DecodingProtocol

logger = logging.getLogger(__name__)


def resume_checkpoint(value: str | bool | None, out: Path) -> str | bool | None:
    """``--resume_from_checkpoint``: a path, or ``"last"`` (the newest ``checkpoint-N`` in ``out`` when
    there is one, else a fresh start), as ``Trainer.train`` takes it."""
    if value in ("last", "auto", "true", "True", True):
        from transformers.trainer_utils import get_last_checkpoint

        last = get_last_checkpoint(str(out)) if out.is_dir() else None
        if last:
            logger.info("resuming from %s", last)
        return last
    return value or None


def add_lora(lm: Any, r: int, alpha: int | None = None) -> Any:
    """Wrap ``lm`` with float32 LoRA adapters of rank ``r`` on every linear layer (peft); the base is frozen."""
    from peft import LoraConfig, get_peft_model

    cfg = LoraConfig(r=int(r), lora_alpha=int(alpha or 2 * r), lora_dropout=0.0, target_modules="all-linear",
                     task_type="CAUSAL_LM")
    return _trainable_in_float32(get_peft_model(lm, cfg))


def _trainable_in_float32(lm: Any) -> Any:
    """Cast the parameters that require gradients (the adapters) to float32, in place; returns ``lm``."""
    import torch

    for p in lm.parameters():
        if p.requires_grad:
            p.data = p.data.to(torch.float32)
    return lm


def load_trainable(path: str, model: str, dtype: str, lora_r: int, lora_alpha: int | None = None) -> tuple[Any, str]:
    """The model ``train sft`` trains, and the base model name its output records.

    ``path`` is a full model folder (or hub id): loaded in ``dtype``, wrapped with new LoRA adapters
    when ``lora_r`` > 0. ``path`` is a LoRA adapter folder (a ``train sft --lora_r`` output or a
    shipped agent such as ``smollm2-135m-alfworld``): with ``lora_r`` > 0 that adapter is trained on
    (its base frozen in ``dtype``, the adapter in float32, the output an adapter of the same base);
    with ``lora_r`` 0 the adapter is merged into its base and all weights train.

    Returns:
        ``(model, base)``: ``base`` is the name the output's provenance records as its base
        (``model``, or the adapter's own base when training on an adapter).

    Raises:
        InvalidConfigError: ``lora_r`` differs from the rank of the adapter in ``path``.
    """
    import torch

    from cotdiag.agents.pretrained import load_causal_lm

    dt = getattr(torch, dtype)
    adapter = Path(path) / "adapter_config.json"
    if not adapter.is_file() or not lora_r:  # a full model (LoRA added on request), or an adapter merged
        lm = load_causal_lm(path, dtype=dt)
        return (add_lora(lm, lora_r, lora_alpha) if lora_r else lm), model
    cfg = json.loads(adapter.read_text())
    if int(cfg.get("r", 0)) != int(lora_r):
        raise InvalidConfigError(f"{model} is a LoRA adapter of rank {cfg.get('r')}; training on it keeps that rank, "
                                 f"got --lora_r {lora_r}")
    return _trainable_in_float32(load_causal_lm(path, dtype=dt, trainable=True)), str(cfg["base_model_name_or_path"])


def write_provenance(folder: Path, protocol: DecodingProtocol | None, model: str, path: str) -> None:
    """Write the protocol and ``cotdiag_base_model.json`` (the base model) into ``folder``; a LoRA adapter
    names its base by the name it was given (``smollm2-135m``, not the machine's cache path), which
    :func:`cotdiag.agents.pretrained.resolve_model` resolves; the tiny model by its ``init`` folder."""
    base = model if model != "tiny" else path
    if protocol is not None:
        protocol.save(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "cotdiag_base_model.json").write_text(json.dumps({"base_model": base}, indent=2) + "\n")
    adapter = folder / "adapter_config.json"
    if adapter.is_file():
        cfg = json.loads(adapter.read_text())
        cfg["base_model_name_or_path"] = base
        adapter.write_text(json.dumps(cfg, indent=2) + "\n")


def save_dtype_for(config: Any) -> str:
    """The dtype a run's saved weights take: ``config.save_dtype`` unless ``"auto"``, which is the dtype
    the forward pass computes in (``"bfloat16"`` under ``--bf16`` autocast or with bfloat16 weights,
    else ``"float32"``). LoRA runs save their float32 adapters as they are (the base is not saved)."""
    if config.save_dtype != "auto":
        return str(config.save_dtype)
    if config.lora_r:
        return "float32"
    return "bfloat16" if (config.bf16 or config.model_dtype == "bfloat16") else "float32"


def cast_saved_weights(folder: Path, dtype: str) -> int:
    """Rewrite every ``model*.safetensors`` file in ``folder`` with its floating-point tensors in ``dtype``
    (``"float32"`` or ``"bfloat16"``) and record it in ``config.json``; a full fine-tune under bf16
    autocast keeps float32 master weights in memory, but a checkpoint saved in bfloat16 is half the
    size (SmolLM2-135M: 269 MB instead of 538 MB). Returns the number of files rewritten (0 when
    they already hold ``dtype``). A resumed run starts from the saved (rounded) weights."""
    import torch
    from safetensors.torch import load_file, save_file

    target, n = getattr(torch, dtype), 0
    for f in sorted(folder.glob("model*.safetensors")):
        tensors = load_file(str(f))
        if all(t.dtype == target or not t.is_floating_point() for t in tensors.values()):
            continue
        save_file({k: t.to(target) if t.is_floating_point() else t for k, t in tensors.items()}, str(f),
                  metadata={"format": "pt"})
        n += 1
    cfg = folder / "config.json"
    if n and cfg.is_file():
        data = json.loads(cfg.read_text())
        data["dtype" if "dtype" in data else "torch_dtype"] = dtype
        cfg.write_text(json.dumps(data, indent=2) + "\n")
    return n


class ProvenanceCallback(TrainerCallback):
    """Writes the protocol and the base-model name into every ``checkpoint-N`` and saves its weights in
    ``save_dtype`` (:func:`cast_saved_weights`)."""

    def __init__(self, protocol: DecodingProtocol | None, model: str, path: str, save_dtype: str = "float32") -> None:
        self.protocol, self.model, self.path, self.save_dtype = protocol, model, path, save_dtype

    def on_save(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        write_provenance(folder, self.protocol, self.model, self.path)
        cast_saved_weights(folder, self.save_dtype)
