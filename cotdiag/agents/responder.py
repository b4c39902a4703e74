"""``ActionResponder``: a clean-action policy (expert, random, sb3) behind the decoding wrapper.

Used wherever such a policy runs with ``--mode`` (``cotdiag evaluate``, the leaderboard), so its
actions reach the env as well-formed responses instead of format errors.
"""

from __future__ import annotations

from typing import Any

from cotdiag.agents.base import BasePolicy, Policy


class ActionResponder(BasePolicy):
    """Present a clean-action policy (expert, random, sb3) as a completion policy.

    The decoding wrapper expects the raw completion after ``info["prefill"]``; this adapter wraps
    the inner policy's action as ``ACTION</action>`` (prompt mode) or
    ``<think></think><action>ACTION</action>`` (CoT mode, empty reasoning).
    """

    def __init__(self, policy: Policy, name: str) -> None:
        from cotdiag.response.format import DEFAULT_FORMAT

        self.policy = policy
        self.name = name
        self.fmt = DEFAULT_FORMAT

    def reset(self, seed: int | None = None) -> None:
        self.policy.reset(seed=seed)

    @property
    def last_stats(self) -> dict[str, Any] | None:
        return getattr(self.policy, "last_stats", None)

    def act(self, observation: str, info: dict[str, Any]) -> str:
        action = self.policy.act(observation, info)
        if info.get("prefill") == self.fmt.action_open:
            return self.fmt.prompt_response(action)
        return self.fmt.cot_response("", action)
