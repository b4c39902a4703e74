"""The expert policy: plays ``info["expert_action"]``."""

from __future__ import annotations

from typing import Any

from cotdiag.agents.base import BasePolicy


class ExpertPolicy(BasePolicy):
    """Play the env's reference action (``info["expert_action"]``).

    Args:
        fallback: action played when ``info["expert_action"]`` is ``None`` (no expert action is
            known in this state). The default ``""`` is recorded by every env as an invalid action,
            so the episode goes on and the gap is visible in the records.
    """

    name = "expert"

    def __init__(self, fallback: str = "") -> None:
        self.fallback = fallback

    def act(self, observation: str, info: dict[str, Any]) -> str:
        action = info.get("expert_action")
        return self.fallback if action is None else str(action)
