"""SFT smoke test: a few steps on the micro model, parameters change, loss finite and decreasing."""

from __future__ import annotations

import json
import math

import pytest

from cotdiag.baselines.sft import ActionMaskSFTConfig, train_sft


@pytest.mark.parametrize("fmt,k", [("cot", 0.0), ("mixed", 0.5)])
def test_sft_trains_on_fixed_batch(tmp_path, scripted_dataset, micro_model, fmt, k):
    import torch
    from transformers import AutoModelForCausalLM

    before = {n: p.detach().clone() for n, p in AutoModelForCausalLM.from_pretrained(micro_model).named_parameters()}
    ds = scripted_dataset.select(range(4))
    cfg = ActionMaskSFTConfig(
        output_dir=str(tmp_path / "sft"), action_mask_ratio=k, response_format=fmt, max_steps=6,
        per_device_train_batch_size=4, logging_steps=1, learning_rate=3e-3, save_steps=3,
        lr_scheduler_type="constant", shuffle_dataset=False, dataloader_num_workers=0, disable_tqdm=True,
    )
    out = train_sft(ds, str(micro_model), cfg)
    losses = [h["loss"] for h in out["log_history"] if "loss" in h]
    assert len(losses) == 6 and all(math.isfinite(x) for x in losses)
    assert losses[-1] < losses[0]
    after = dict(AutoModelForCausalLM.from_pretrained(tmp_path / "sft").named_parameters())
    assert any(not torch.equal(before[n], after[n]) for n in before)
    assert (tmp_path / "sft" / "checkpoint-3").is_dir() and (tmp_path / "sft" / "checkpoint-6").is_dir()
    meta = json.loads((tmp_path / "sft" / "action_mask.json").read_text())
    assert len(meta["masked_decisions"]) == round(k * 4) and meta["unit"] == "decision"


def _weights_dtypes(folder) -> set[str]:
    from safetensors.torch import load_file

    return {str(t.dtype) for f in folder.glob("model*.safetensors") for t in load_file(str(f)).values()}


def test_bf16_autocast_saves_bf16_checkpoints_that_resume(tmp_path, scripted_dataset, micro_model):
    """Under bf16 autocast the float32 master weights are saved in bfloat16 (half the bytes) unless
    ``save_dtype="float32"``; a run resumes from a bfloat16 checkpoint and the final model loads."""
    from transformers import AutoModelForCausalLM

    ds = scripted_dataset.select(range(4))
    common = dict(max_steps=2, per_device_train_batch_size=4, save_steps=1, bf16=True, disable_tqdm=True,
                  shuffle_dataset=False, dataloader_num_workers=0, warmup_steps=0)
    train_sft(ds, str(micro_model), ActionMaskSFTConfig(output_dir=str(tmp_path / "bf"), **common))
    train_sft(ds, str(micro_model), ActionMaskSFTConfig(output_dir=str(tmp_path / "fp"), save_dtype="float32", **common))
    for sub in ("checkpoint-1", "checkpoint-2", "."):
        assert _weights_dtypes(tmp_path / "bf" / sub) == {"torch.bfloat16"}
        assert _weights_dtypes(tmp_path / "fp" / sub) == {"torch.float32"}
    size = lambda d: sum(f.stat().st_size for f in d.glob("model*.safetensors"))  # noqa: E731
    assert size(tmp_path / "bf" / "checkpoint-1") < 0.55 * size(tmp_path / "fp" / "checkpoint-1")
    assert json.loads((tmp_path / "bf" / "config.json").read_text()).get("dtype", "bfloat16") == "bfloat16"
    resumed = ActionMaskSFTConfig(output_dir=str(tmp_path / "bf"), resume_from_checkpoint="last",
                                  **{**common, "max_steps": 3})
    out = train_sft(ds, str(micro_model), resumed)
    assert out["steps"] == 3
    AutoModelForCausalLM.from_pretrained(tmp_path / "bf")
