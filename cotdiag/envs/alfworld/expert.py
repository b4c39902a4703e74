"""alfworld's handcoded expert, with the two upstream bugs fixed and its randomness seeded.

Fixes (see ``$ALFWORLD_DATA/../SOURCE.md`` in the shared data and alfworld 0.4.2's source):

1. ``HandCodedAgent`` updates its inventory only after an action containing ``"put"``, but the
   0.4.x grammar issues ``move X to Y``; the expert then believes it still holds the object and
   loops on pick-two tasks. We hand it ``put X to Y`` for the last action (the rename only).
2. ``HandCodedAgent.reset`` reads ``pddl_params`` from ``traj_data.json``, which the train games
   lack. We derive them from the folder name when the file is absent
   (:func:`cotdiag.envs.alfworld.data.task_params`).

The upstream agent draws from the global ``random`` module (to pick among matching objects and to
break loops). During our ``act`` the module's ``random`` is swapped for a ``random.Random`` seeded
at reset, so expert actions are reproducible and the global generator is left alone.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager

from alfworld.agents.expert import handcoded_expert as _upstream
from alfworld.agents.expert.handcoded_expert import HandCodedAgentFailed, HandCodedAgentTimeout
from alfworld.agents.expert.handcoded_expert_tw import HandCodedTWAgent
from alfworld.gen import constants

from cotdiag.envs.alfworld.data import task_params

#: Exceptions after which the expert has no action for the state (``expert_action=None``).
EXPERT_GAVE_UP = (HandCodedAgentTimeout, HandCodedAgentFailed)


class FixedHandCodedExpert(HandCodedTWAgent):
    """``HandCodedTWAgent`` with the ``move``→``put`` and ``traj_data.json`` fixes.

    Args:
        max_steps: the expert raises ``HandCodedAgentTimeout`` after this many ``act`` calls.
    """

    def __init__(self, max_steps: int = 200) -> None:
        super().__init__(max_steps=max_steps)
        self._rng = random.Random(0)

    def reset(self, game: str = "INVALID", seed: int = 0) -> None:  # type: ignore[override]
        params = task_params(game)
        self.task_params = {
            k: (v.lower() if isinstance(v, str) and v in constants.OBJECTS else v) for k, v in params.items()
        }
        policy_class = self.get_task_policy(self.task_params)
        self.policy = policy_class(self.task_params, max_steps=self.max_steps)
        self._rng = random.Random(seed)

    def act(self, game_state, reward, done, last_action: str = "") -> str:  # type: ignore[override]
        tracked = "put " + last_action[len("move "):] if last_action.startswith("move ") else last_action
        with self._seeded_random():
            action = self.policy.act(game_state, tracked)
        admissible = game_state["admissible_commands"]
        if action == last_action or (last_action == "look" and action not in admissible):
            return self._rng.choice(admissible)
        return action

    @contextmanager
    def _seeded_random(self) -> Iterator[None]:
        saved = _upstream.random
        _upstream.random = self._rng  # the module only calls random.choice / random.shuffle
        try:
            yield
        finally:
            _upstream.random = saved
