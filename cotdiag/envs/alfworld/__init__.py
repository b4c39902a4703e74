"""ALFWorld as a Gymnasium text environment (``CoTDiag-ALFWorld-v0``)."""

from __future__ import annotations

from cotdiag.envs.alfworld.data import (
    OOD_TASK_TYPES,
    SPLITS,
    TASK_TYPES,
    list_games,
    task_params_from_folder,
)
from cotdiag.envs.alfworld.env import ALFWorldEnv

__all__ = ["ALFWorldEnv", "OOD_TASK_TYPES", "SPLITS", "TASK_TYPES", "list_games", "task_params_from_folder"]
