"""The ``info`` contract every CoTDiag environment fills on ``reset`` and ``step``."""

from __future__ import annotations

from typing import TypedDict

#: Keys every CoTDiag env puts in ``info`` (wrappers may add more).
INFO_KEYS: tuple[str, ...] = (
    "task_id",
    "task_type",
    "split",
    "task",
    "admissible_actions",
    "expert_action",
    "won",
    "score",
    "step",
    "invalid_action",
)


class StepInfo(TypedDict):
    """The ``info`` dict returned by ``reset`` and ``step`` of every CoTDiag environment.

    Keys:
        task_id: stable id of the task (game path relative to the split, ``"<task>/<variation>"``,
            BFCL entry id); ``reset(options={"task_id": ...})`` accepts it.
        task_type: task family (ALFWorld task type, ScienceWorld task name, BFCL category).
        split: the split the env was built with.
        task: the goal text, as shown to the agent.
        admissible_actions: the actions the simulator accepts in this state, or ``None`` where the
            simulator cannot enumerate them (BFCL) or enumeration is switched off.
        expert_action: the reference action for this state, or ``None`` when no expert action is
            known here (each env documents when: e.g. after the agent left the gold path).
        won: the task is solved.
        score: normalized task score in ``[0, 1]`` (1.0 when won).
        step: number of ``step`` calls since ``reset`` (0 at reset).
        invalid_action: the simulator did not accept the last action (always ``False`` at reset).
    """

    task_id: str
    task_type: str
    split: str
    task: str
    admissible_actions: list[str] | None
    expert_action: str | None
    won: bool
    score: float
    step: int
    invalid_action: bool


def missing_info_keys(info: dict) -> list[str]:
    """Return the contract keys absent from ``info`` (empty list when the contract holds)."""
    return [k for k in INFO_KEYS if k not in info]
