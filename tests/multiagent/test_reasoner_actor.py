"""The PettingZoo reasoner-actor game passes PettingZoo's API tests."""

from __future__ import annotations

import pytest
from pettingzoo.test import api_test, parallel_api_test

from cotdiag.multiagent.reasoner_actor import ReasonerActorEnv, ReasonerActorParallelEnv
from cotdiag.testing import make_scripted


@pytest.mark.parametrize("incentive", ["cooperative", "adversarial"])
def test_aec_api(incentive):
    api_test(ReasonerActorEnv(make_scripted(), incentive, max_text_length=2000, max_action_length=300), num_cycles=30)


@pytest.mark.parametrize("incentive", ["cooperative", "adversarial"])
def test_parallel_api(incentive):
    parallel_api_test(ReasonerActorParallelEnv(make_scripted(), incentive, max_text_length=2000, max_action_length=300), num_cycles=30)


def test_adversarial_rewards_reasoner_when_actor_leaves_expert():
    env = ReasonerActorEnv(make_scripted(), "adversarial")
    env.reset(seed=0)
    env.step("The box looks empty; I should look around instead.")
    assert "<think>The box looks empty" in env.observe("actor")
    env.step("look</action>")
    assert env.rewards == {"actor": 0.0, "reasoner": 1.0} and env.infos["actor"]["left_expert"]
    env.step("Open the box.")
    env.step("open box</action>")
    assert env.rewards["reasoner"] == 0.0 and env.rewards["actor"] > 0


def test_cooperative_shares_reward():
    env = ReasonerActorParallelEnv(make_scripted(), "cooperative")
    env.reset(seed=0)
    env.step({"reasoner": "open it", "actor": "ignored"})
    _, rewards, *_ = env.step({"reasoner": "ignored", "actor": "open box</action>"})
    assert rewards["reasoner"] == rewards["actor"] > 0
