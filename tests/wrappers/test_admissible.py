"""AdmissibleActionWrapper: SB3's check_env on the scripted env and on ALFWorld."""

from __future__ import annotations

import numpy as np
import pytest
from stable_baselines3.common.env_checker import check_env as sb3_check_env

from cotdiag.testing import make_scripted
from cotdiag.wrappers.admissible import AdmissibleActionWrapper, hashed_bag_of_words


def test_sb3_check_env_scripted():
    sb3_check_env(AdmissibleActionWrapper(make_scripted(), max_actions=8, dim=32))


def test_actions_mask_and_padding():
    env = AdmissibleActionWrapper(make_scripted(), max_actions=8, dim=32)
    obs, info = env.reset(seed=0)
    assert obs["action_mask"].tolist() == [1] * 6 + [0, 0] and info["admissible"][6] == ""
    i = info["admissible"].index(info["expert_action"])
    obs, r, term, trunc, info = env.step(i)
    assert info["text_action"] == "open box" and r > 0
    _, _, _, _, info = env.step(7)  # padding index: the env records an invalid action
    assert info["text_action"] == "" and info["invalid_action"]
    small = AdmissibleActionWrapper(make_scripted(), max_actions=2)
    assert small.reset(seed=0)[1]["admissible_truncated"]


def test_hashing_is_stable():
    v = hashed_bag_of_words("Go to desk 1", 64)
    assert v.dtype == np.float32 and v.shape == (64,) and 1 <= v.sum() <= 4
    assert np.array_equal(v, hashed_bag_of_words("go TO desk 1", 64))


def test_bad_args():
    with pytest.raises(ValueError, match="expected max_actions"):
        AdmissibleActionWrapper(make_scripted(), max_actions=0)


def test_sb3_check_env_alfworld(alfworld):
    sb3_check_env(AdmissibleActionWrapper(alfworld, max_actions=128, dim=256), warn=False)
