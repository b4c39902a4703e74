"""ScienceWorld as a Gymnasium text environment (``CoTDiag-ScienceWorld-v0``)."""

from __future__ import annotations

from cotdiag.envs.scienceworld.env import NO_MATCH, SIMPLIFICATIONS, ScienceWorldEnv
from cotdiag.envs.scienceworld.splits import (
    ID_TASK_TYPES,
    OOD_TASK_TYPES,
    SPLITS,
    TASK_TYPES,
    list_tasks,
    parse_task_id,
)

__all__ = [
    "ID_TASK_TYPES",
    "NO_MATCH",
    "OOD_TASK_TYPES",
    "SIMPLIFICATIONS",
    "SPLITS",
    "TASK_TYPES",
    "ScienceWorldEnv",
    "list_tasks",
    "parse_task_id",
]
