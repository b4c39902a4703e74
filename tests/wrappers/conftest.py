"""Fixtures for the wrapper tests: the scripted env, and one real ALFWorld env per module."""

from __future__ import annotations

import os
from pathlib import Path

import gymnasium as gym
import pytest

import cotdiag  # noqa: F401  (registers envs)
from cotdiag.testing import make_scripted

ALFWORLD_DATA = Path(os.environ.get("ALFWORLD_DATA", "/work/shared/data/alfworld"))


@pytest.fixture
def scripted() -> gym.Env:
    return make_scripted()


@pytest.fixture(scope="module")
def alfworld() -> gym.Env:
    if not (ALFWORLD_DATA / "json_2.1.1").exists():
        pytest.skip(f"ALFWorld data not found at {ALFWORLD_DATA} (set ALFWORLD_DATA)")
    os.environ.setdefault("ALFWORLD_DATA", str(ALFWORLD_DATA))
    env = gym.make("CoTDiag-ALFWorld-v0", split="valid_unseen", data_path=str(ALFWORLD_DATA))
    yield env
    env.close()
