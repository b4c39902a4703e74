"""CoTDiag environments, registered with Gymnasium by versioned id and string entry point.

Nothing heavy is imported here: each simulator is imported when its env is made.

=========================== ============================================== ===================
id                          entry point                                    max_episode_steps
=========================== ============================================== ===================
``CoTDiag-ALFWorld-v0``     ``cotdiag.envs.alfworld:ALFWorldEnv``           50
``CoTDiag-ScienceWorld-v0`` ``cotdiag.envs.scienceworld:ScienceWorldEnv``  200
``CoTDiag-BFCL-v0``         ``cotdiag.envs.bfcl:BFCLEnv``                   100
=========================== ============================================== ===================

Constructor kwargs are passed through ``gym.make(id, **kwargs)``; see each class docstring.
The passive env checker is :class:`cotdiag.envs.checker.TextEnvChecker` (the outermost wrapper).
"""

from __future__ import annotations

from typing import Any

from gymnasium.envs.registration import register, registry

from cotdiag.envs.base import TaskSpec, TextEnv, Transition
from cotdiag.envs.checker import CHECKER_SPEC
from cotdiag.envs.info import INFO_KEYS, StepInfo
from cotdiag.envs.spaces import UnicodeText

#: The ids this package registers, in a stable order.
ENV_IDS: list[str] = []


def register_text_env(env_id: str, entry_point: Any, max_episode_steps: int | None = None, **kwargs: Any) -> None:
    """Register a text env with Gymnasium the way CoTDiag's own envs are (idempotent).

    Same as ``gymnasium.register(env_id, entry_point, max_episode_steps, kwargs=kwargs)`` except
    that the passive env checker is :class:`cotdiag.envs.checker.TextEnvChecker`, so a first
    ``reset`` that raises (an unknown task id) leaves the env usable.

    Args:
        env_id: versioned id, e.g. ``"MySim-v0"``; an id already registered is left as it is.
        entry_point: ``"module:Class"`` or a callable returning the env.
        max_episode_steps: the ``TimeLimit`` of the registration (``None``: none).
        **kwargs: default constructor kwargs.
    """
    if env_id not in registry:
        register(id=env_id, entry_point=entry_point, max_episode_steps=max_episode_steps, kwargs=kwargs,
                 disable_env_checker=True, additional_wrappers=(CHECKER_SPEC,))


def env_class(env_id: str) -> Any | None:
    """The class (or factory) the entry point of a registered id names, imported; ``None`` for an
    unknown id or an entry point that cannot be imported. Used to read what an env class declares
    (``action_normalization``, ``reasoning_templates``) without constructing the env."""
    import gymnasium as gym
    from gymnasium.envs.registration import load_env_creator

    try:
        entry = gym.spec(env_id).entry_point
        return load_env_creator(entry) if isinstance(entry, str) else entry
    except (gym.error.Error, ImportError, AttributeError):
        return None


def _register(env_id: str, entry_point: str, max_episode_steps: int, **kwargs: Any) -> None:
    ENV_IDS.append(env_id)
    register_text_env(env_id, entry_point, max_episode_steps, **kwargs)


_register("CoTDiag-ALFWorld-v0", "cotdiag.envs.alfworld:ALFWorldEnv", max_episode_steps=50)
# 200 steps: the longest ScienceWorld gold path on variation 0 is 178 actions (scienceworld_gold.json).
# Some other variations need more (inclined-plane-friction-named-surfaces, test variation 1077: 744):
# pass max_episode_steps for them; the expert loses them under this default.
_register("CoTDiag-ScienceWorld-v0", "cotdiag.envs.scienceworld:ScienceWorldEnv", max_episode_steps=200)
_register("CoTDiag-BFCL-v0", "cotdiag.envs.bfcl:BFCLEnv", max_episode_steps=100)

__all__ = ["ENV_IDS", "register_text_env", "INFO_KEYS", "StepInfo", "TaskSpec", "TextEnv", "Transition", "UnicodeText"]
