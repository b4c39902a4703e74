"""The base class of every CoTDiag text environment.

A simulator adapter subclasses :class:`TextEnv` and implements three methods:

* :meth:`TextEnv._list_tasks` -> the ordered task ids of the split;
* :meth:`TextEnv._reset_task` -> start a task, return its :class:`TaskSpec` and first :class:`Transition`;
* :meth:`TextEnv._step_task` -> apply one clean action string, return the :class:`Transition`.

The base class owns everything the three simulators share: the text spaces, seeded task choice,
per-step reward as the change of the normalized score, termination, step counting, and the
``info`` contract (:class:`cotdiag.envs.info.StepInfo`). Truncation is left to Gymnasium's
``TimeLimit`` (``max_episode_steps`` in the registration).
"""

from __future__ import annotations

import abc
import logging
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
from gymnasium.error import ResetNeeded

from cotdiag.envs.actions import DEFAULT_NORMALIZATION, ActionNormalization
from cotdiag.envs.info import StepInfo
from cotdiag.envs.spaces import MAX_TEXT_LENGTH, UnicodeText
from cotdiag.error import InvalidConfigError, InvalidTypeError, UnknownTaskError


@dataclass(frozen=True)
class TaskSpec:
    """What is fixed for one episode.

    Attributes:
        task_id: stable id accepted by ``reset(options={"task_id": ...})``.
        task_type: task family.
        task: goal text shown to the agent.
    """

    task_id: str
    task_type: str
    task: str


@dataclass
class Transition:
    """The simulator's answer to ``reset`` or one action.

    Attributes:
        observation: text feedback of the simulator.
        score: normalized score in ``[0, 1]`` after this transition.
        won: the task is solved (terminates the episode).
        lost: the task can no longer be solved (terminates the episode with ``won=False``).
        invalid_action: the simulator did not accept the action.
        admissible_actions: valid actions in the new state, or ``None`` when not enumerable.
        expert_action: the reference action for the new state, or ``None`` when unknown.
        extra: simulator-specific ``info`` entries (namespaced, e.g. ``"alfworld/gamefile"``).
    """

    observation: str
    score: float = 0.0
    won: bool = False
    lost: bool = False
    invalid_action: bool = False
    admissible_actions: list[str] | None = None
    expert_action: str | None = None
    extra: dict[str, Any] | None = None


class TextEnv(gym.Env[str, str], abc.ABC):
    """A Gymnasium environment whose observations and actions are Unicode text.

    Args:
        split: name of the task split (each subclass documents its splits).
        max_observation_length: maximum observation length in characters.
        max_action_length: maximum action length in characters; longer actions are still accepted
            by ``step`` and recorded as invalid (the simulator never sees them).
        render_mode: ``None``, ``"ansi"`` (``render()`` returns the last observation) or
            ``"human"`` (logs it at INFO level).

    Rewards:
        ``reward_t = score_t - score_{t-1}`` where ``score`` is the normalized score in ``[0, 1]``,
        so the undiscounted return of an episode equals its final score.

    Episode end:
        ``terminated`` when the task is won or lost; ``truncated`` is always ``False`` here and comes
        from ``TimeLimit`` (``max_episode_steps`` of the registration).

    Raises:
        gymnasium.error.ResetNeeded: ``step`` before ``reset`` or after the episode terminated.
        TypeError: the action is not a ``str``.
    """

    metadata: dict[str, Any] = {"render_modes": ["ansi", "human"]}
    #: Splits the subclass supports (checked in ``__init__``).
    splits: tuple[str, ...] = ()
    #: How agents' action strings are normalized for this env (see :mod:`cotdiag.envs.actions`).
    action_normalization: ActionNormalization = DEFAULT_NORMALIZATION
    #: ``"module:Name"`` of this env's templated reasoning source (a ``TraceSource`` class or object,
    #: see :mod:`cotdiag.traces`): the rationales of its SFT data and the conflicting traces of the
    #: diagnostics. Imported only when traces are built; ``None`` gives generic traces (with one
    #: warning). docs/adding_an_env.md shows how to write one.
    reasoning_templates: str | None = None
    #: The observation the env returns for an inadmissible action (``None``: not declared). SFT's
    #: recovery turns (:mod:`cotdiag.baselines.recovery`) show it after a failed action.
    invalid_action_feedback: str | None = None

    def __init__(
        self,
        split: str,
        *,
        max_observation_length: int = MAX_TEXT_LENGTH,
        max_action_length: int = MAX_TEXT_LENGTH,
        render_mode: str | None = None,
    ) -> None:
        if self.splits and split not in self.splits:
            raise InvalidConfigError(f"expected split in {list(self.splits)}, got {split!r}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise InvalidConfigError(
                f"expected render_mode in {self.metadata['render_modes']} or None, got {render_mode!r}"
            )
        self.split = split
        self.render_mode = render_mode
        self.observation_space = UnicodeText(max_observation_length)
        self.action_space = UnicodeText(max_action_length)
        self._task_ids: list[str] | None = None
        self._spec_task: TaskSpec | None = None
        self._score = 0.0
        self._step_count = 0
        self._done = True
        self._last_observation = ""

    # ------------------------------------------------------------------ subclass API
    @abc.abstractmethod
    def _list_tasks(self) -> list[str]:
        """Return the ordered task ids of ``self.split`` (called once, lazily)."""

    @abc.abstractmethod
    def _reset_task(self, task_id: str) -> tuple[TaskSpec, Transition]:
        """Start ``task_id`` and return its spec and the initial transition."""

    @abc.abstractmethod
    def _step_task(self, action: str) -> Transition:
        """Apply one clean action string in the running task."""

    def _invalid_transition(self, feedback: str) -> Transition:
        """Transition for an action rejected before reaching the simulator (state unchanged).

        Subclasses override it to fill admissible/expert actions of the unchanged state.
        """
        return Transition(observation=feedback, score=self._score, invalid_action=True)

    # ------------------------------------------------------------------ public API
    @property
    def task_ids(self) -> list[str]:
        """Ordered task ids of the split (``list[str]``)."""
        if self._task_ids is None:
            self._task_ids = list(self._list_tasks())
        return self._task_ids

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[str, StepInfo]:
        """Start an episode.

        Args:
            seed: seeds ``self.np_random``; the task is drawn uniformly from the split with it.
            options: ``{"task_id": str}`` plays the named task instead.

        Returns:
            ``(observation, info)``; the observation contains the task description.

        Raises:
            cotdiag.error.UnknownTaskError: ``options["task_id"]`` is not a task of this split (a
                ``KeyError``).
        """
        super().reset(seed=seed)
        options = options or {}
        task_id = options.get("task_id")
        if task_id is None:
            ids = self.task_ids
            task_id = ids[int(self.np_random.integers(len(ids)))]
        elif task_id not in set(self.task_ids):
            raise UnknownTaskError(f"task_id {task_id!r} is not in split {self.split!r} of {type(self).__name__}")
        spec, tr = self._reset_task(task_id)
        self._spec_task = spec
        self._score = float(tr.score)
        self._step_count = 0
        self._done = False
        self._last_observation = tr.observation
        return tr.observation, self._info(tr)

    def step(self, action: str) -> tuple[str, float, bool, bool, StepInfo]:
        """Apply ``action`` (a clean action string).

        Returns:
            ``(observation, reward, terminated, truncated, info)``; ``reward`` is a ``float``
            (change of the normalized score), ``truncated`` is always ``False``.
        """
        if self._done or self._spec_task is None:
            raise ResetNeeded("call reset() before step() (the episode is over or never started)")
        if not isinstance(action, str):
            raise InvalidTypeError(f"expected action of type str, got {type(action).__name__}")
        self._step_count += 1
        if len(action) > self.action_space.max_length:
            tr = self._invalid_transition(
                f"Invalid action: {len(action)} characters, more than the maximum "
                f"{self.action_space.max_length}."
            )
        else:
            tr = self._step_task(action)
        reward = float(tr.score) - self._score
        self._score = float(tr.score)
        terminated = bool(tr.won or tr.lost)
        self._done = terminated
        self._last_observation = tr.observation
        if self.render_mode == "human":
            self.render()
        return tr.observation, reward, terminated, False, self._info(tr)

    def render(self) -> str | None:
        """Return (``"ansi"``) or log (``"human"``) the last observation."""
        if self.render_mode == "ansi":
            return self._last_observation
        if self.render_mode == "human":
            logging.getLogger(__name__).info("%s", self._last_observation)
        return None

    # ------------------------------------------------------------------ helpers
    def _info(self, tr: Transition) -> StepInfo:
        spec = self._spec_task
        assert spec is not None  # internal invariant: set by reset
        info: dict[str, Any] = {
            "task_id": spec.task_id,
            "task_type": spec.task_type,
            "split": self.split,
            "task": spec.task,
            "admissible_actions": list(tr.admissible_actions) if tr.admissible_actions is not None else None,
            "expert_action": tr.expert_action,
            "won": bool(tr.won),
            "score": float(tr.score),
            "step": self._step_count,
            "invalid_action": bool(tr.invalid_action),
        }
        if tr.extra:
            info.update(tr.extra)
        return info  # type: ignore[return-value]
