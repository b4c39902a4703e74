"""A tiny scripted text env (Gymnasium's ``GenericTestEnv`` pattern): no simulator needed."""

from __future__ import annotations

from cotdiag.envs.base import TaskSpec, TextEnv, Transition

SOLUTION = ["open box", "take key from box", "unlock door with key"]
ADMISSIBLE = ["look", "inventory", "open box", "take key from box", "unlock door with key", "go to door"]


class ScriptedTextEnv(TextEnv):
    """Three tasks that all need ``SOLUTION`` in order; any other admissible action is a no-op.

    ``expert_action`` is the next solution action; ``admissible_actions`` is ``ADMISSIBLE``; actions
    outside it are invalid (``Nothing happens.``).
    """

    splits = ("test",)

    def __init__(self, split: str = "test", **kwargs) -> None:
        super().__init__(split, **kwargs)
        self._progress = 0

    def _list_tasks(self) -> list[str]:
        return ["task/0", "task/1", "task/2"]

    def _reset_task(self, task_id: str) -> tuple[TaskSpec, Transition]:
        self._progress = 0
        spec = TaskSpec(task_id=task_id, task_type="unlock_door", task=f"unlock the door ({task_id}).")
        obs = f"You are in a small room ({task_id}). There is a box and a locked door."
        return spec, self._tr(obs)

    def _step_task(self, action: str) -> Transition:
        action = action.strip()
        if action not in ADMISSIBLE:
            return self._tr("Nothing happens.", invalid=True)
        if self._progress < len(SOLUTION) and action == SOLUTION[self._progress]:
            self._progress += 1
            return self._tr(f"You {action}. Step {self._progress} done.")
        return self._tr(f"You {action}. Nothing changes.")

    def _tr(self, obs: str, invalid: bool = False) -> Transition:
        won = self._progress == len(SOLUTION)
        return Transition(
            observation=obs, score=self._progress / len(SOLUTION), won=won, invalid_action=invalid,
            admissible_actions=list(ADMISSIBLE), expert_action=None if won else SOLUTION[self._progress],
        )
