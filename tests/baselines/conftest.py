"""Fixtures for the baseline tests: the scripted env and a micro model trained on its texts."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from cotdiag.baselines.tiny import MICRO_CONFIG, make_tiny_default
from cotdiag.response.format import DEFAULT_FORMAT
from cotdiag.testing import ADMISSIBLE, SOLUTION, ScriptedTextEnv, make_scripted  # noqa: F401

# Tiny models are latency-bound: one thread avoids oversubscription on small shared CPUs.
torch.set_num_threads(1)

def trace_fn(state: dict) -> str:
    return f"The task needs me to {state['action']} next."


@pytest.fixture(scope="session")
def scripted_dataset():
    from cotdiag.baselines.data import build_dataset

    return build_dataset("scripted", episodes=3, traces=trace_fn, make_env=lambda **kw: make_scripted(**kw))


@pytest.fixture(scope="session")
def micro_model(tmp_path_factory, scripted_dataset) -> Path:
    texts = []
    for ex in scripted_dataset:
        texts += [ex["prompt"], ex["prompt_for_prompt_mode"], DEFAULT_FORMAT.cot_response(ex["trace"], ex["action"])]
    return make_tiny_default(texts * 5, tmp_path_factory.mktemp("micro"), MICRO_CONFIG)


@pytest.fixture(scope="session")
def sft_micro(tmp_path_factory, scripted_dataset, micro_model) -> Path:
    """The micro model after a short SFT on the scripted dataset (it emits parseable responses)."""
    from cotdiag.baselines.sft import ActionMaskSFTConfig, train_sft

    out = tmp_path_factory.mktemp("sft_micro")
    cfg = ActionMaskSFTConfig(output_dir=str(out), max_steps=40, per_device_train_batch_size=9, learning_rate=5e-3,
                              save_strategy="no", disable_tqdm=True, dataloader_num_workers=0, logging_steps=10,
                              lr_scheduler_type="linear", warmup_steps=0)
    train_sft(scripted_dataset, str(micro_model), cfg)
    return out
