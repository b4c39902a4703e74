"""The random policy: uniform over admissible actions, seeded."""

from __future__ import annotations

from typing import Any

import numpy as np

from cotdiag.agents.base import BasePolicy


class RandomPolicy(BasePolicy):
    """Pick uniformly among ``info["admissible_actions"]``.

    Args:
        seed: seed of the policy's own ``numpy`` generator; :meth:`reset` with a seed re-seeds it,
            so an episode's actions depend only on the episode seed.
        fallback: action played where the env cannot enumerate actions (``admissible_actions`` is
            ``None`` or empty); the default ``""`` is recorded as an invalid action.
    """

    name = "random"

    def __init__(self, seed: int | None = None, fallback: str = "") -> None:
        self.fallback = fallback
        self._rng = np.random.default_rng(seed)

    def reset(self, seed: int | None = None) -> None:
        if seed is not None:
            self._rng = np.random.default_rng(seed)

    def act(self, observation: str, info: dict[str, Any]) -> str:
        actions = info.get("admissible_actions") or []
        if not actions:
            return self.fallback
        return str(actions[int(self._rng.integers(len(actions)))])
