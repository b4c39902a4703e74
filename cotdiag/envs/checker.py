"""Gymnasium's passive env checker, made safe against a first ``reset`` that raises.

``gym.make`` wraps every env in :class:`gymnasium.wrappers.PassiveEnvChecker`, which checks the
first ``reset`` and the first ``step``. In Gymnasium 1.x it marks the reset as checked *before*
calling it, so when the first ``reset`` raises (``reset(options={"task_id": "nope"})``), the
checker keeps no reset data and every later first ``step`` fails inside the checker with
``TypeError: cannot unpack non-iterable NoneType object``: one bad task id poisons the env.

:class:`TextEnvChecker` runs the same checks and clears the mark when the checked reset raises,
so the next reset is checked instead. CoTDiag's envs are registered with Gymnasium's checker
disabled and this one as their first additional wrapper (see :mod:`cotdiag.envs`); passing
``disable_env_checker=False`` to ``gym.make`` would add Gymnasium's own checker underneath.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
from gymnasium.envs.registration import EnvSpec, WrapperSpec
from gymnasium.wrappers import PassiveEnvChecker


class TextEnvChecker(PassiveEnvChecker):
    """:class:`~gymnasium.wrappers.PassiveEnvChecker` whose first ``reset`` may raise safely.

    Args:
        env: the env to check (a :class:`~cotdiag.envs.base.TextEnv`, possibly wrapped).

    Raises:
        Whatever the wrapped ``reset``/``step`` raise; nothing of its own beyond Gymnasium's checks.
    """

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Reset; when this was the checked first reset and it raised, check the next one instead."""
        first = not self.checked_reset
        try:
            return super().reset(seed=seed, options=options)
        except BaseException:
            if first:
                self.checked_reset = False
            raise

    @property
    def spec(self) -> EnvSpec | None:
        """The inner spec plus this wrapper, so ``gym.make(env.spec)`` rebuilds the same stack."""
        return gym.Wrapper.spec.fget(self)


#: The :class:`~gymnasium.envs.registration.WrapperSpec` CoTDiag registrations add.
CHECKER_SPEC = WrapperSpec(
    name="TextEnvChecker", entry_point="cotdiag.envs.checker:TextEnvChecker", kwargs={}
)
