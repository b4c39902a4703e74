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
"""

from __future__ import annotations

from gymnasium.envs.registration import register, registry

from cotdiag.envs.base import TaskSpec, TextEnv, Transition
from cotdiag.envs.info import INFO_KEYS, StepInfo
from cotdiag.envs.spaces import UnicodeText

#: The ids this package registers, in a stable order.
ENV_IDS: list[str] = []


def _register(env_id: str, entry_point: str, max_episode_steps: int, **kwargs) -> None:
    ENV_IDS.append(env_id)
    if env_id not in registry:
        register(id=env_id, entry_point=entry_point, max_episode_steps=max_episode_steps, kwargs=kwargs)


_register("CoTDiag-ALFWorld-v0", "cotdiag.envs.alfworld:ALFWorldEnv", max_episode_steps=50)
# 200 steps: the longest ScienceWorld gold path on variation 0 is 178 actions (scienceworld_gold.json).
_register("CoTDiag-ScienceWorld-v0", "cotdiag.envs.scienceworld:ScienceWorldEnv", max_episode_steps=200)
_register("CoTDiag-BFCL-v0", "cotdiag.envs.bfcl:BFCLEnv", max_episode_steps=100)

__all__ = ["ENV_IDS", "INFO_KEYS", "StepInfo", "TaskSpec", "TextEnv", "Transition", "UnicodeText"]
