"""``CoTDiag-ALFWorld-v0``: real ALFWorld games on TextWorld's tw-pddl engine."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any

from cotdiag.envs.alfworld.data import SPLITS, list_games, split_dir, task_params
from cotdiag.envs.alfworld.fast_reset import ResetCache
from cotdiag.envs.alfworld.memory import release_interned_facts
from cotdiag.envs.base import TaskSpec, TextEnv, Transition
from cotdiag.error import DependencyNotInstalled, InvalidConfigError

logger = logging.getLogger(__name__)

_TASK_RE = re.compile(r"Your task is to:\s*(.*)")
EXPERT_TYPES = ("handcoded", "planner", None)


def _import_textworld() -> Any:
    try:
        import textworld
        from alfworld.agents.environment.alfred_tw_env import AlfredDemangler, AlfredInfos
    except ImportError as e:  # pragma: no cover - exercised only without the dependency
        raise DependencyNotInstalled(
            f"CoTDiag-ALFWorld-v0 needs `alfworld` and `textworld[pddl]` (pip install cotdiag): {e}"
        ) from e
    return textworld, AlfredDemangler, AlfredInfos


class ALFWorldEnv(TextEnv):
    """ALFWorld (Shridhar et al., ICLR 2021) text games as a Gymnasium env.

    ## Description
    The agent is placed in a household room and given a goal ("put a clean cloth in bathtubbasin").
    Games are alfworld's ``game.tw-pddl`` files, played by TextWorld's PDDL engine through
    alfworld's own ``AlfredDemangler`` and ``AlfredInfos`` wrappers.

    ## Observation Space
    :class:`~cotdiag.envs.spaces.UnicodeText`: the simulator's feedback. The first observation is
    the room description followed by ``Your task is to: ...``.

    ## Action Space
    :class:`~cotdiag.envs.spaces.UnicodeText`: a text command such as ``go to desk 1``. The engine
    strips surrounding whitespace and matches the command exactly (case-sensitive) against the
    admissible commands; anything else gets ``Nothing happens.`` and ``info["invalid_action"]``.

    ## Rewards
    ``1.0`` on the step that wins the game, else ``0.0`` (ALFWorld has no partial credit:
    ``score`` is ``1.0`` when won, ``0.0`` otherwise).

    ## Episode End
    ``terminated`` when the goal is reached (ALFWorld games cannot be lost). ``truncated`` by
    ``TimeLimit`` after ``max_episode_steps`` (50 in the registration, as in the literature).

    ## Arguments
    - ``split``: ``train`` (the 600-game subset or the full official set), ``valid_seen``
      (in-domain eval, 140 games), ``valid_unseen`` (out-of-domain eval, 134 games), ``train_id``
      (train without the study's held-out task types) and ``eval_ood_task_types`` (valid_unseen
      games of the held-out types ``pick_cool_then_place_in_recep``, ``pick_two_obj_and_place``);
      ``eval_id_task_types`` (valid_seen games of the other four types: the in-domain eval of a
      model trained on ``train_id``).
    - ``data_path``: folder holding ``json_2.1.1/``; default ``$ALFWORLD_DATA``, else
      ``~/.cache/alfworld`` (where ``alfworld-download`` writes).
    - ``expert``: ``"handcoded"`` (alfworld's handcoded expert, with the upstream fixes of
      :mod:`cotdiag.envs.alfworld.expert`), ``"planner"`` (Fast Downward replanning from the current
      state, slower) or ``None`` (no expert; ``expert_action`` is always ``None``).
    - ``expert_max_steps``: the handcoded expert gives up after this many actions.
    - ``fast_reset``: cache each game's PDDL translation and initial state, so a repeated reset of
      the same game skips parsing (:mod:`cotdiag.envs.alfworld.fast_reset`); ``False`` takes
      TextWorld's own reset every time.

    ## Info Keys
    The :class:`~cotdiag.envs.info.StepInfo` contract, plus ``alfworld/gamefile`` (absolute path).
    ``expert_action`` is ``None`` when the expert is off, has given up (timeout or exhausted
    subgoals), or the game is won. Like alfworld's ``AlfredExpert``, the handcoded expert's first
    action is ``look`` and a non-admissible expert suggestion is replaced by ``look``.

    ## Version History
    - v0: initial version (alfworld 0.4.2 data, ``move X to Y`` grammar).
    """

    splits = tuple(SPLITS)
    reasoning_templates = "cotdiag.traces.templates:ALFWorldTraces"
    invalid_action_feedback = "Nothing happens."

    def __init__(
        self,
        split: str = "valid_unseen",
        *,
        data_path: str | os.PathLike | None = None,
        expert: str | None = "handcoded",
        expert_max_steps: int = 200,
        fast_reset: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(split, **kwargs)
        if expert not in EXPERT_TYPES:
            raise InvalidConfigError(f"expected expert in {list(EXPERT_TYPES)}, got {expert!r}")
        self.data_path = data_path
        self.expert_type = expert
        self.expert_max_steps = expert_max_steps
        self._root = split_dir(split, data_path)  # fail early, with the variable's name
        self._tw: Any = None
        self._tw_gamefile: str | None = None
        self._expert: Any = None
        self._expert_alive = False
        self._state: Any = None
        self._last_expert_action: str | None = None
        self._reset_cache = ResetCache() if fast_reset else None

    # ------------------------------------------------------------------ TextEnv API
    def _list_tasks(self) -> list[str]:
        return list_games(self.split, self.data_path)

    def _gamefile(self, task_id: str) -> str:
        return str(self._root / task_id / "game.tw-pddl")

    def _load(self, gamefile: str) -> None:
        """Load ``gamefile``, reusing the engine (and the parsed game when it is the same game).

        Switching games first drops TextWorld's intern cache of the previous games' facts, which
        otherwise grows by ~0.5-1 MB per distinct game (:mod:`cotdiag.envs.alfworld.memory`).
        """
        if self._tw is not None and self._tw_gamefile == gamefile:
            return
        release_interned_facts()
        textworld, demangler, infos = _import_textworld()
        if self._tw is None:
            request = textworld.EnvInfos(
                won=True,
                admissible_commands=True,
                facts=self.expert_type == "handcoded",
                policy_commands=self.expert_type == "planner",
                extras=["gamefile"],
            )
            self._tw = textworld.start(gamefile, request, wrappers=[demangler, infos])
        else:
            self._tw.load(gamefile)
        self._tw_gamefile = gamefile

    def _reset_task(self, task_id: str) -> tuple[TaskSpec, Transition]:
        gamefile = self._gamefile(task_id)
        self._load(gamefile)
        self._state = self._reset_cache.reset(self._tw, gamefile) if self._reset_cache else self._tw.reset()
        obs = self._state["feedback"]
        m = _TASK_RE.search(obs)
        params = task_params(gamefile)
        spec = TaskSpec(task_id=task_id, task_type=str(params["task_type"]), task=m.group(1).strip() if m else "")
        expert_action = None
        self._expert_alive = False
        if self.expert_type == "handcoded":
            from cotdiag.envs.alfworld.expert import FixedHandCodedExpert

            if self._expert is None:
                self._expert = FixedHandCodedExpert(max_steps=self.expert_max_steps)
            seed = int(self.np_random.integers(2**31))
            self._expert.reset(gamefile, seed=seed)
            self._expert.observe(obs)
            self._expert_alive = True
            expert_action = "look"
        elif self.expert_type == "planner":
            expert_action = self._planner_action()
        return spec, self._transition(obs, invalid=False, expert_action=expert_action)

    def _step_task(self, action: str) -> Transition:
        self._state, _, _ = self._tw.step(action)
        invalid = self._state.get("_last_action") is None
        won = bool(self._state["won"])
        expert_action = None
        if not won and self.expert_type == "handcoded" and self._expert_alive:
            expert_action = self._handcoded_action(action.strip())
        elif not won and self.expert_type == "planner":
            expert_action = self._planner_action()
        return self._transition(self._state["feedback"], invalid=invalid, expert_action=expert_action)

    def _invalid_transition(self, feedback: str) -> Transition:
        # The state is unchanged; keep the expert's current suggestion.
        return Transition(
            observation=feedback,
            score=self._score,
            invalid_action=True,
            admissible_actions=list(self._state["admissible_commands"]),
            expert_action=self._last_expert_action,
            extra={"alfworld/gamefile": self._tw_gamefile},
        )

    def close(self) -> None:
        """Release the TextWorld engine; the env can be reset again afterwards."""
        if self._tw is not None:
            self._tw.close()
            release_interned_facts()
        self._tw = None
        self._tw_gamefile = None
        self._done = True
        super().close()

    # ------------------------------------------------------------------ helpers
    def _handcoded_action(self, last_command: str) -> str | None:
        from cotdiag.envs.alfworld.expert import EXPERT_GAVE_UP

        try:
            action = self._expert.act(self._state, 0, self._state["won"], last_command)
        except EXPERT_GAVE_UP as e:
            logger.debug("handcoded expert gave up on %s: %r", self._tw_gamefile, e)
            self._expert_alive = False
            return None
        return action if action in self._state["admissible_commands"] else "look"

    def _planner_action(self) -> str | None:
        plan = self._state.get("policy_commands") or []
        return plan[0] if plan else None

    def _transition(self, obs: str, *, invalid: bool, expert_action: str | None) -> Transition:
        won = bool(self._state["won"])
        self._last_expert_action = expert_action
        return Transition(
            observation=obs,
            score=1.0 if won else 0.0,
            won=won,
            invalid_action=invalid,
            admissible_actions=list(self._state["admissible_commands"]),
            expert_action=expert_action,
            extra={"alfworld/gamefile": str(Path(self._tw_gamefile))},
        )
