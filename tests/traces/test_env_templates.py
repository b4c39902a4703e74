"""Reasoning templates belong to their env (#24 item 2): an env class declares its source in
``reasoning_templates``; an env without one gets generic traces and exactly one warning."""

from __future__ import annotations

import logging

import numpy as np

from cotdiag.envs import register_text_env
from cotdiag.testing import ScriptedTextEnv
from cotdiag.traces import (
    ALFWorldTraces,
    GenericTraces,
    TemplateTraceSource,
    TraceContext,
    templates_for,
)


class DoorTraces:
    """A toy source living outside the package."""

    def __call__(self, ctx, action, rng):
        return f"The door is locked, so I {action}."


class DeclaringEnv(ScriptedTextEnv):
    reasoning_templates = f"{__name__}:DoorTraces"


register_text_env("TestDeclaresTemplates-v0", DeclaringEnv, max_episode_steps=5)
register_text_env("TestNoTemplates-v0", ScriptedTextEnv, max_episode_steps=5)


def _ctx():
    return TraceContext(task="unlock the door.", observation="A locked door.", admissible_actions=["open box"])


def test_shipped_envs_declare_their_templates():
    assert isinstance(templates_for("CoTDiag-ALFWorld-v0"), ALFWorldTraces)


def test_an_env_from_outside_the_package_brings_its_templates():
    src = TemplateTraceSource("TestDeclaresTemplates-v0")
    assert src(_ctx(), "open box", np.random.default_rng(0)) == "The door is locked, so I open box."


def test_an_env_without_templates_warns_once_and_gets_generic_traces(caplog):
    with caplog.at_level(logging.WARNING, logger="cotdiag.traces.templates"):
        first = templates_for("TestNoTemplates-v0")
        templates_for("TestNoTemplates-v0")
    assert isinstance(first, GenericTraces)
    warned = [r.getMessage() for r in caplog.records if "declares no reasoning templates" in r.getMessage()]
    assert len(warned) == 1 and "reasoning_templates = 'module:Name'" in warned[0]
