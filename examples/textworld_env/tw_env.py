"""A TextWorld game as a CoTDiag environment: the worked example of docs/adding_an_env.md.

Games are generated locally with TextWorld's own generator (``tw-make custom``, no download) into
``$COTDIAG_TW_GAMES`` (default ``~/.cache/cotdiag/textworld_example``) on first use. Importing this
file registers ``TextWorldExample-v0``; nothing in ``cotdiag/`` knows about it::

    cotdiag evaluate --import examples/textworld_env/tw_env.py --env TextWorldExample-v0 --split ood
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from cotdiag.envs import TaskSpec, TextEnv, Transition, register_text_env
from cotdiag.error import DependencyNotInstalled

#: split -> (tw-make seeds, world size, quest length): the OOD split has longer quests in bigger worlds.
SPLITS = {"train": ((1, 2, 3), 3, 3), "test": ((11, 12), 3, 3), "ood": ((21, 22), 5, 5)}


def make_game(split: str, seed: int) -> Path:
    """Generate (once) the game of ``split`` for ``seed`` with ``tw-make`` and return its path."""
    _, world_size, quest_length = SPLITS[split]
    root = Path(os.environ.get("COTDIAG_TW_GAMES", "~/.cache/cotdiag/textworld_example")).expanduser()
    path = root / f"{split}_w{world_size}_q{quest_length}_s{seed}.z8"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tw_make = Path(sys.executable).with_name("tw-make")
        cmd = [str(tw_make), "custom", "--world-size", str(world_size), "--nb-objects", "6",
               "--quest-length", str(quest_length), "--seed", str(seed), "--output", str(path), "-f", "--silent"]
        subprocess.run(cmd, check=True, capture_output=True)
    return path


class TextWorldExampleEnv(TextEnv):
    """Generated TextWorld games (``tw-make custom``).

    Splits: ``train`` (3 games), ``test`` (2 games, same sizes), ``ood`` (2 larger games).
    Reward: TextWorld's score normalized by ``max_score``. Episode end: won or lost.
    Actions outside ``admissible_commands`` are invalid (state unchanged, never sent to the engine).
    Expert: the first of TextWorld's ``policy_commands`` (the walkthrough from the current state).
    """

    splits = tuple(SPLITS)

    def __init__(self, split: str = "train", **kwargs) -> None:
        super().__init__(split, **kwargs)
        self._tw = None
        self._state = None

    def _list_tasks(self) -> list[str]:
        return [f"{self.split}/{seed}" for seed in SPLITS[self.split][0]]

    def _reset_task(self, task_id: str) -> tuple[TaskSpec, Transition]:
        try:
            import textworld
        except ImportError as e:
            raise DependencyNotInstalled("TextWorldExample-v0 needs `textworld` (pip install textworld)") from e
        if self._tw is not None:
            self._tw.close()
        infos = textworld.EnvInfos(admissible_commands=True, policy_commands=True, max_score=True,
                                   score=True, won=True, lost=True, objective=True, description=True)
        self._tw = textworld.start(str(make_game(self.split, int(task_id.split("/")[1]))), request_infos=infos)
        self._state = self._tw.reset()
        objective = self._state["objective"]
        spec = TaskSpec(task_id=task_id, task_type=f"quest{SPLITS[self.split][2]}", task=objective)
        return spec, self._transition(f"{objective}\n\n{self._state['description']}", invalid=False)

    def _step_task(self, action: str) -> Transition:
        if action.strip() not in self._state["admissible_commands"]:
            return self._invalid_transition("That is not something you can do here.")
        self._state, _, _ = self._tw.step(action.strip())
        return self._transition(self._state.feedback, invalid=False)

    def _invalid_transition(self, feedback: str) -> Transition:
        return self._transition(feedback, invalid=True)

    def _transition(self, observation: str, invalid: bool) -> Transition:
        s = self._state
        plan = s["policy_commands"] or []
        return Transition(observation=observation.strip(), score=s["score"] / max(s["max_score"], 1),
                          won=bool(s["won"]), lost=bool(s["lost"]), invalid_action=invalid,
                          admissible_actions=sorted(s["admissible_commands"]),
                          expert_action=None if s["won"] else (plan[0] if plan else None))

    def close(self) -> None:
        if self._tw is not None:
            self._tw.close()
            self._tw = None
        super().close()


register_text_env("TextWorldExample-v0", entry_point=TextWorldExampleEnv, max_episode_steps=30)
