"""Fixtures for the LLM policy tests: a micro Qwen2 model with a locally trained tokenizer."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from cotdiag.baselines.tiny import MICRO_CONFIG, make_tiny_default
from cotdiag.response.format import DEFAULT_FORMAT

# Tiny models are latency-bound: one thread avoids oversubscription on small shared CPUs.
torch.set_num_threads(1)

CORPUS = [
    "Task: put a mug on the desk.\n\nCurrent observation:\nYou arrive at desk 1. On the desk 1, you see a mug 1.",
    DEFAULT_FORMAT.cot_response("The mug is here, so I take it.", "take mug 1 from desk 1"),
    DEFAULT_FORMAT.cot_response("I have not looked at the shelf yet.", "go to shelf 1"),
]


@pytest.fixture(scope="session")
def micro_model(tmp_path_factory) -> Path:
    return make_tiny_default(CORPUS * 20, tmp_path_factory.mktemp("micro_hf"), MICRO_CONFIG)
