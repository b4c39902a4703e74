"""Build a policy from a CLI spec string (``expert``, ``random``, ``hf:PATH``, ...).

New policy kinds register a factory with :func:`register_policy`; the CLI and the leaderboard build
every policy through :func:`make_policy`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from cotdiag.agents.base import Policy
from cotdiag.agents.expert import ExpertPolicy
from cotdiag.agents.random import RandomPolicy
from cotdiag.error import InvalidConfigError

#: ``kind -> factory(argument, seed, **kwargs)``; ``argument`` is the text after ``kind:`` or ``""``.
POLICY_FACTORIES: dict[str, Callable[..., Policy]] = {
    "expert": lambda arg, seed, **kw: ExpertPolicy(),
    "random": lambda arg, seed, **kw: RandomPolicy(seed=seed),
}


def _lazy(module: str, factory: str) -> Callable[..., Policy]:
    """A factory that imports ``module`` (torch, openai, ...) only when the policy is built."""

    def make(arg: str, seed: int | None, **kwargs: Any) -> Policy:
        return getattr(importlib.import_module(module), factory)(arg, seed, **kwargs)

    return make


POLICY_FACTORIES["hf"] = _lazy("cotdiag.agents.hf", "make_hf_policy")
POLICY_FACTORIES["openai"] = _lazy("cotdiag.agents.openai_policy", "make_openai_policy")
POLICY_FACTORIES["sb3"] = _lazy("cotdiag.baselines.sb3", "make_sb3_policy")


def register_policy(kind: str, factory: Callable[..., Policy]) -> None:
    """Register ``factory(argument: str, seed: int | None, **kwargs) -> Policy`` under ``kind``."""
    POLICY_FACTORIES[kind] = factory


def make_policy(spec: str, seed: int | None = None, **kwargs: Any) -> Policy:
    """Build a policy from ``"kind"`` or ``"kind:argument"``.

    Raises:
        InvalidConfigError: unknown kind (the message lists the registered kinds).
    """
    kind, _, arg = spec.partition(":")
    if kind not in POLICY_FACTORIES:
        raise InvalidConfigError(f"expected policy kind in {sorted(POLICY_FACTORIES)}, got {spec!r}")
    policy = POLICY_FACTORIES[kind](arg, seed, **kwargs)
    if not getattr(policy, "name", None) or policy.name == kind:
        policy.name = spec
    return policy
