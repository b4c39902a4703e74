"""Training precision: the bfloat16 default of ``train sft`` and bfloat16 weights with stochastic rounding."""

from __future__ import annotations

import pytest

from cotdiag.baselines.precision import auto_bf16, cpu_bf16_native, stochastic_rounding_optimizer
from cotdiag.baselines.sft import ActionMaskSFTConfig, train_sft
from cotdiag.error import InvalidConfigError


def test_sft_defaults_to_bf16_on_a_cpu_with_native_bf16(tmp_path):
    import torch

    cfg = ActionMaskSFTConfig(output_dir=str(tmp_path))
    assert cfg.bf16 == auto_bf16(cpu=True)
    if not torch.cuda.is_available():
        assert cfg.bf16 == cpu_bf16_native() and auto_bf16() is False  # GRPO keeps float32 on the CPU
        assert cfg.use_cpu == cfg.bf16
    assert ActionMaskSFTConfig(output_dir=str(tmp_path), bf16=False).bf16 is False


@pytest.mark.parametrize("kw", [{}, {"model_dtype": "float32"}, {"model_dtype": "bfloat16", "lora_r": 4}])
def test_stochastic_rounding_needs_bf16_weights_without_lora(tmp_path, kw):
    with pytest.raises(InvalidConfigError, match="model_dtype bfloat16"):
        ActionMaskSFTConfig(output_dir=str(tmp_path), bf16_stochastic_round=True, **kw)


def test_stochastic_rounding_keeps_updates_below_bf16_spacing(tmp_path):
    """Known answer: weights in [1.25, 1.75) have bfloat16 spacing 2**-7; an AdamW step of lr 1e-4 is 80
    times smaller than that. Round-to-nearest (torch's AdamW on bfloat16 weights) loses every
    update; stochastic rounding changes about lr / spacing = 1.3% of the weights, by one spacing,
    against the gradient, so the mean update is -lr * sign(grad) (here within 15%)."""
    import torch

    g = torch.Generator().manual_seed(0)
    w0 = (1.25 + 0.5 * torch.rand(256, 256, generator=g)).to(torch.bfloat16)  # away from 1 and 2, where the spacing changes
    grad = torch.randn(256, 256, generator=g).to(torch.bfloat16)
    lr = 1e-4

    def step(opt_cls, kwargs):
        p = torch.nn.Parameter(w0.clone())
        p.grad = grad.clone()
        opt_cls([p], **kwargs).step()
        return (p.detach() - w0).float()

    plain = step(torch.optim.AdamW, {"lr": lr, "weight_decay": 0.0})
    assert torch.count_nonzero(plain) == 0
    cfg = ActionMaskSFTConfig(output_dir=str(tmp_path), model_dtype="bfloat16", bf16_stochastic_round=True,
                              learning_rate=lr, weight_decay=0.0)
    cls, kwargs = stochastic_rounding_optimizer(cfg)
    assert kwargs["bf16_stochastic_round"] is True and kwargs["lr"] == lr
    sr = step(cls, kwargs)
    changed = sr != 0
    assert 0.008 < changed.float().mean() < 0.018
    assert torch.allclose(sr[changed].abs(), torch.tensor(2.0**-7))
    assert (torch.sign(sr[changed]) == -torch.sign(grad.float()[changed])).all()
    mean_along = float((-sr * torch.sign(grad.float())).mean())
    assert abs(mean_along - lr) < 0.15 * lr


def test_train_sft_with_bf16_weights_and_stochastic_rounding(tmp_path, scripted_dataset, micro_model):
    """End to end: the micro model loaded in bfloat16 trains with torchao's optimizer; the saved
    weights are bfloat16 and differ from the initial ones."""
    import torch
    from transformers import AutoModelForCausalLM

    before = dict(AutoModelForCausalLM.from_pretrained(micro_model).named_parameters())
    cfg = ActionMaskSFTConfig(output_dir=str(tmp_path / "sr"), model_dtype="bfloat16", bf16_stochastic_round=True,
                              max_steps=2, per_device_train_batch_size=4, learning_rate=3e-3, save_strategy="no",
                              disable_tqdm=True, dataloader_num_workers=0, warmup_steps=0, logging_steps=1)
    out = train_sft(scripted_dataset.select(range(4)), str(micro_model), cfg)
    assert out["steps"] == 2
    after = dict(AutoModelForCausalLM.from_pretrained(tmp_path / "sr", dtype="auto").named_parameters())
    assert {p.dtype for p in after.values()} == {torch.bfloat16}
    assert any(not torch.equal(before[n].to(torch.bfloat16), after[n]) for n in before)


@pytest.mark.parametrize("bf16, want", [(False, "float32"), (True, "bfloat16")])
def test_a_lora_base_is_bfloat16_only_under_autocast(tmp_path, scripted_dataset, micro_model, monkeypatch, bf16, want):
    """`--model_dtype auto` loads a LoRA base in bfloat16 only under bfloat16 autocast: on a CPU
    without native bfloat16 (float32 by default) a bfloat16 base runs emulated bfloat16 matmuls,
    measured several times slower than float32 (docs/baselines.md). The real loader runs; the spy
    records the dtype it was asked for."""
    import cotdiag.baselines.sft as sft

    seen: list[str] = []
    real = sft.load_trainable

    def spy(path, model, dtype, *args, **kwargs):
        seen.append(dtype)
        return real(path, model, dtype, *args, **kwargs)

    monkeypatch.setattr(sft, "load_trainable", spy)
    cfg = ActionMaskSFTConfig(output_dir=str(tmp_path / "lora"), lora_r=4, bf16=bf16, max_steps=1,
                              per_device_train_batch_size=2, save_strategy="no", disable_tqdm=True,
                              dataloader_num_workers=0, warmup_steps=0, logging_steps=1)
    assert train_sft(scripted_dataset.select(range(2)), str(micro_model), cfg)["steps"] == 1
    assert seen == [want]
