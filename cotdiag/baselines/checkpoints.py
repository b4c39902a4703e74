"""What an SFT run writes and reads besides the weights: LoRA adapters, the protocol and base-model
record in every checkpoint, and where a resumed run starts.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

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
    import torch
    from peft import LoraConfig, get_peft_model

    cfg = LoraConfig(r=int(r), lora_alpha=int(alpha or 2 * r), lora_dropout=0.0, target_modules="all-linear",
                     task_type="CAUSAL_LM")
    lm = get_peft_model(lm, cfg)
    for p in lm.parameters():
        if p.requires_grad:
            p.data = p.data.to(torch.float32)
    return lm


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


class ProvenanceCallback(TrainerCallback):
    """Writes the protocol and the base-model name into every ``checkpoint-N``."""

    def __init__(self, protocol: DecodingProtocol | None, model: str, path: str) -> None:
        self.protocol, self.model, self.path = protocol, model, path

    def on_save(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        write_provenance(Path(args.output_dir) / f"checkpoint-{state.global_step}", self.protocol, self.model,
                         self.path)
