"""``CoTDiag-ScienceWorld-v0``: ScienceWorld's 30 task types on its own Scala simulator."""

from __future__ import annotations

import logging
from typing import Any

from cotdiag.envs.base import TaskSpec, TextEnv, Transition
from cotdiag.envs.scienceworld.observation import sort_listings
from cotdiag.envs.scienceworld.simulator import (
    DEFAULT_MAX_HEAP,
    DEFAULT_TIMEOUT_S,
    JVM,
    is_java_error,
)
from cotdiag.envs.scienceworld.splits import SPLITS, list_tasks, parse_task_id
from cotdiag.error import InvalidConfigError, SimulatorError

logger = logging.getLogger(__name__)

#: ScienceWorld's answer to any input its parser cannot match (the state is left unchanged).
NO_MATCH = "No known action matches that input."
#: Simplifications accepted by ScienceWorld's ``load`` ("easy" = all but ``noElectricalAction``).
SIMPLIFICATIONS = (
    "easy",
    "teleportAction",
    "selfWateringFlowerPots",
    "openContainers",
    "openDoors",
    "noElectricalAction",
)
_DESC_PREFIX = "Task Description:"


def _check_simplification(simplification: str) -> str:
    if not isinstance(simplification, str):
        raise InvalidConfigError(f"expected simplification of type str, got {type(simplification).__name__}")
    bad = [s for s in simplification.split(",") if s and s not in SIMPLIFICATIONS]
    if bad:
        raise InvalidConfigError(
            f"expected simplification '' or comma-separated values of {list(SIMPLIFICATIONS)}, "
            f"got {simplification!r}"
        )
    return simplification


class ScienceWorldEnv(TextEnv):
    """ScienceWorld (Wang et al., EMNLP 2022) as a Gymnasium text env.

    ## Description
    Elementary-science tasks (boil water, build a circuit, find a living thing, Mendelian genetics,
    ...) in a simulated house with 10 rooms, played through ScienceWorld's own Scala simulator
    (the ``scienceworld`` package; its jar runs in one JVM per env instance, started on the first
    ``reset`` and reused by later ones, see :mod:`cotdiag.envs.scienceworld.simulator`).

    ## Observation Space
    :class:`~cotdiag.envs.spaces.UnicodeText`. On ``reset``: the task description
    (``Task Description:\\nYour task is to ...``), a blank line and the output of ``look around``.
    After each step: the simulator's feedback text. One normalisation: ScienceWorld lists a room's
    objects in an order that changes between loads of the same variation (JVM hash-set order), so
    the lines under ``In it, you see:`` are sorted (:mod:`cotdiag.envs.scienceworld.observation`);
    otherwise the text is unchanged. Numbered ambiguity menus keep the simulator's order.

    ## Action Space
    :class:`~cotdiag.envs.spaces.UnicodeText`: a command such as ``open door to kitchen``. The
    string reaches the simulator as is. When ScienceWorld's parser matches no action it answers
    ``"No known action matches that input."`` without changing the state (no move is counted); the
    step is then recorded with ``info["invalid_action"] = True``. That covers empty, binary,
    unbalanced and code-injection strings: the simulator only parses, it never evaluates. Strings
    that cannot be encoded as UTF-8 (lone surrogates) and strings longer than the action space's
    ``max_length`` never reach the simulator and are recorded as invalid the same way. An
    ambiguous command gets ScienceWorld's numbered menu (``Ambiguous request: ...``); the next
    action is then the number of the intended choice, as in ScienceWorld itself.

    ## Rewards
    ScienceWorld's score (integer 0-100, partial credit for sub-goals) divided by 100, so
    ``info["score"]`` is in ``[0, 1]`` and the reward is its change: the return of an episode is its
    final score minus the score at ``reset``, which ScienceWorld can make positive (e.g. 0.17 on
    ``find-animal`` once ``look around`` has been played). A failed task (ScienceWorld score < 0, e.g. focusing on the wrong object) sets the
    score to 0, so that step's reward is minus the score reached so far.

    ## Episode End
    ``terminated`` when the score reaches 100 (``won=True``) or the task is failed: score < 0, or
    the simulator reports the task completed below 100 (``won=False``). ``truncated`` by
    ``TimeLimit`` after ``max_episode_steps``: 200 in the registration, not ScienceWorld's default
    ``envStepLimit`` of 100, because gold paths are longer than 100 actions on some task types
    (178 for ``inclined-plane-friction-unnamed-surfaces``, 140 for
    ``mendelian-genetics-known-plant`` on variation 0, see
    ``benchmarks/results/scienceworld_gold.json``); pass ``max_episode_steps=100`` to
    ``gym.make`` to match papers that use 100. The simulator's own step limit is disabled.

    ## Arguments
    - ``split``: ``train``, ``dev``, ``test`` (ScienceWorld's variation splits over all 30 task
      types), ``train_id`` (``train`` variations of the 20 in-domain types), ``test_id`` (their
      ``test`` variations) or ``test_ood_task_types`` (``test`` variations of the study's 10 held-out types, the last task of
      each topic: 1-4, 2-3, 3-4, 4-4, 5-2, 6-3, 7-3, 8-2, 9-3, 10-2). See
      :mod:`cotdiag.envs.scienceworld.splits`.
    - ``simplification``: ScienceWorld simplification string, default ``"easy"`` (teleport, open
      doors and containers, self-watering pots), as most agent papers use; ``""`` for none.
    - ``expert``: compute ScienceWorld's gold action sequence (``generateGoldPath=True``) for
      ``info["expert_action"]``; ``False`` makes ``reset`` faster and ``expert_action`` always
      ``None``.
    - ``admissible_actions``: enumerate ScienceWorld's valid actions
      (``getValidActionObjectCombinations``) after every step and ``reset``. That is about 800
      strings and about 5x the cost of the step itself (``benchmarks/results/scienceworld_env.json``),
      so it is off by default; when off ``info["admissible_actions"]`` is ``None`` (the random
      policy then needs ``admissible_actions=True``, e.g. ``--env_kwarg admissible_actions=true``).
    - ``jvm_max_heap``: the simulator JVM's maximum heap (``java -Xmx``: ``"1g"``, ``"512m"``),
      default ``"512m"``. ``None`` keeps Java's default, a quarter of the machine's memory per env.
      Measured over 100 resets on distinct train tasks and variations, gold paths included (all 30
      task types, 23 GB machine, ``/proc/<pid>/status`` VmRSS of the JVM): uncapped, the JVM was
      at 724 MB after 10 resets, 3.2 GB after 40 and 4.3 GB at most (its heap limit: 5.9 GB);
      with ``"512m"``, 351 MB, 408 MB and 571 MB at most (480 MB at the end), no
      OutOfMemoryError, and the 100 resets took 122 s instead of 162 s. ``"256m"`` also ran them
      (367 MB at most) with more GC time, so the default leaves a 2x margin. The JVM runs with
      ``-XX:+ExitOnOutOfMemoryError``: should a task ever exceed the cap, the call fails with
      :class:`~cotdiag.error.SimulatorError` and ``reset`` starts a fresh JVM.
    - ``simulator_timeout_s``: wall-clock budget in seconds of each simulator call (one py4j round
      trip; ``reset`` and ``step`` make several), default 120; ``None`` for none. A frozen JVM
      (e.g. ``kill -STOP``, swapping) thus surfaces as :class:`~cotdiag.error.SimulatorError`
      naming the budget, and the JVM is killed. The slowest healthy call is ``load`` with the gold
      path (``expert=True``) on the Mendelian genetics tasks: up to 16 s on a shared 2-core
      machine, about 54 s on a busy one (``benchmarks/results/scienceworld_gold.json``: 71 s for
      the first pass of ``mendelian-genetics-unknown-plant/0`` minus 17 s for its cached replay);
      lower the budget only with ``expert=False`` or an idle machine.
    - ``max_observation_length``, ``max_action_length``, ``render_mode``: see
      :class:`~cotdiag.envs.base.TextEnv`.

    ## Info Keys
    The :class:`~cotdiag.envs.info.StepInfo` contract (``task_type`` is the ScienceWorld task name,
    ``task_id`` is ``"<task_name>/<variation>"``), plus ``scienceworld/score_100`` (the raw
    ScienceWorld score, an ``int`` that is negative when the task failed).
    ``expert_action`` is the next action of the gold sequence while every action the simulator
    accepted so far was the gold one (compared after stripping whitespace; other actions it
    rejected as invalid leave the state and the expert unchanged; a gold action is consumed even
    when rejected, as the gold path holds ambiguity-menu answers such as ``0`` that only apply
    after an ambiguous command). Once the agent deviates it is ``None`` for
    the rest of the episode (ScienceWorld has no planner to re-plan from an arbitrary state). It is
    ``None`` after the gold sequence ends or the episode terminates. ScienceWorld's gold-path
    generator is not seeded (it can pick, e.g., a different animal on each load), so the env
    computes the gold sequence once per ``(task, variation, simplification)`` and reuses it: within
    an env instance, seeded rollouts are identical, expert actions included.
    ``admissible_actions`` is sorted (the simulator's order is not stable).

    ## Version History
    - v0: initial version (scienceworld 1.2.3).

    Raises:
        InvalidConfigError: unknown split or simplification, a malformed ``jvm_max_heap``, or a
            ``simulator_timeout_s`` that is not a positive number.
        SimulatorError: from ``step`` when the JVM died or froze mid-episode (raised within
            ``simulator_timeout_s``; the JVM is killed and the next ``reset`` starts a fresh one),
            from ``reset`` when a fresh JVM fails too (a JVM that died or froze between episodes
            is replaced once, transparently).

    Example:
        >>> import gymnasium as gym, cotdiag.envs
        >>> env = gym.make("CoTDiag-ScienceWorld-v0", split="dev")
        >>> obs, info = env.reset(options={"task_id": "find-animal/150"})
        >>> obs, reward, terminated, truncated, info = env.step(info["expert_action"])
        >>> env.close()
    """

    splits = tuple(SPLITS)
    reasoning_templates = "cotdiag.traces.templates:ScienceWorldTraces"

    def __init__(
        self,
        split: str = "test",
        *,
        simplification: str = "easy",
        expert: bool = True,
        admissible_actions: bool = False,
        jvm_max_heap: str | None = DEFAULT_MAX_HEAP,
        simulator_timeout_s: float | None = DEFAULT_TIMEOUT_S,
        **kwargs: Any,
    ) -> None:
        super().__init__(split, **kwargs)
        self.simplification = _check_simplification(simplification)
        self.expert = bool(expert)
        self.enumerate_admissible = bool(admissible_actions)
        self._jvm = JVM(max_heap=jvm_max_heap, timeout_s=simulator_timeout_s)
        self._gold_cache: dict[tuple[str, int, str], list[str]] = {}
        self._gold: list[str] = []
        self._gold_pos: int | None = None  # None: the agent left the gold path
        self._score_100 = 0
        self._admissible: list[str] | None = None

    # ------------------------------------------------------------------ properties
    @property
    def jvm_pid(self) -> int | None:
        """Process id of this env's JVM, or ``None`` when none is running."""
        return self._jvm.pid

    # ------------------------------------------------------------------ TextEnv API
    def _list_tasks(self) -> list[str]:
        return list_tasks(self.split)

    def _load(self, name: str, variation: int) -> Any:
        """Load the task and return the simulator, starting a fresh JVM (once) if the one in use fails.

        The first failure (a JVM that died or froze between episodes, or a fresh one that failed)
        is retried on a fresh JVM; the second is raised.

        Raises:
            InvalidConfigError: ScienceWorld rejected the task, variation or simplification.
            SimulatorError: the JVM failed twice (each attempt bounded by ``simulator_timeout_s``
                per call).
        """
        for attempt in (0, 1):
            sim = self._jvm.ensure()
            try:
                self._jvm.call(f"load({name!r}, {variation})", self._load_calls, sim, name, variation)
                return sim
            except ValueError as e:  # scienceworld's own argument check
                raise InvalidConfigError(str(e)) from e
            except SimulatorError as e:  # the JVM was killed: retry once on a fresh one
                if attempt == 1:
                    raise
                logger.warning("%s; starting a fresh ScienceWorld JVM", e)
            except Exception as e:
                if not is_java_error(e):
                    raise
                raise SimulatorError(f"ScienceWorld failed to load {name}/{variation}: {e!r}") from e
        raise AssertionError("unreachable")  # pragma: no cover

    def _load_calls(self, sim: Any, name: str, variation: int) -> None:
        """Load the task; compute its gold path on its first load (if ``expert``)."""
        key = (name, variation, self.simplification)
        gold = self.expert and key not in self._gold_cache
        sim.load(name, variation, self.simplification, generateGoldPath=gold)
        if gold:
            self._gold_cache[key] = [str(a) for a in sim.get_gold_action_sequence()]

    def _reset_task(self, task_id: str) -> tuple[TaskSpec, Transition]:
        name, variation = parse_task_id(task_id)
        sim = self._load(name, variation)
        try:
            look, desc, score_100, admissible = self._jvm.call(
                f"reset({task_id!r})", self._initial_calls, sim.server
            )
        except Exception as e:
            if not is_java_error(e):
                raise
            raise SimulatorError(f"ScienceWorld failed to reset {task_id}: {e!r}") from e
        self._score_100 = score_100
        self._gold = self._gold_cache.get((name, variation, self.simplification), [])
        self._gold_pos = 0 if self.expert else None
        task = desc.strip()
        if task.startswith(_DESC_PREFIX):
            task = task[len(_DESC_PREFIX):].strip()
        spec = TaskSpec(task_id=task_id, task_type=name, task=task)
        self._admissible = admissible
        return spec, self._transition(f"{desc.strip()}\n\n{look}", invalid=False, won=False, lost=False)

    def _initial_calls(self, server: Any) -> tuple[str, str, int, list[str] | None]:
        """Return the observation, task description, score (0-100) and admissible actions after load."""
        look = sort_listings(str(server.step("look around")))
        desc = str(server.freeActionTaskDesc())
        score_100 = int(round(100 * server.getScore()))
        return look, desc, score_100, self._enumerate(server)

    def _step_task(self, action: str) -> Transition:
        if self._jvm.raw is None:
            raise SimulatorError("the ScienceWorld JVM died earlier in this episode; call reset()")
        try:
            action.encode("utf-8")
        except UnicodeEncodeError:
            return self._invalid_transition("Invalid action: the text is not valid Unicode (lone surrogate).")
        try:
            obs, score_100, completed, invalid, admissible = self._jvm.call(
                f"step({action[:80]!r})", self._step_calls, self._jvm.raw.server, action
            )
        except Exception as e:
            if not is_java_error(e):
                raise
            # a Java exception on this input; the JVM is fine
            logger.warning("ScienceWorld raised on action %r: %s", action[:200], e.java_exception)
            return self._invalid_transition(f"Invalid action: the simulator failed on it ({e.java_exception}).")
        won = score_100 >= 100
        lost = not won and (score_100 < 0 or completed)
        self._score_100 = score_100
        self._advance_expert(action.strip(), invalid)
        self._admissible = admissible
        return self._transition(obs, invalid=invalid, won=won, lost=lost)

    def _step_calls(self, server: Any, action: str) -> tuple[str, int, bool, bool, list[str] | None]:
        """Play ``action``; return the observation, score (0-100), completed, invalid, admissible."""
        obs = sort_listings(str(server.step(action)))
        score_100 = int(round(100 * server.getScore()))
        completed = bool(server.getCompleted())
        invalid = obs.strip() == NO_MATCH
        # a rejected action leaves the state, hence the admissible actions, unchanged
        admissible = self._admissible if invalid else self._enumerate(server)
        return obs, score_100, completed, invalid, admissible

    def _invalid_transition(self, feedback: str) -> Transition:
        # The state is unchanged: keep the score, the expert's suggestion and the admissible actions.
        return self._transition(feedback, invalid=True, won=False, lost=False)

    def close(self) -> None:
        """Shut the JVM down (and reap it); the env can be reset again afterwards."""
        self._jvm.close()
        self._done = True
        super().close()

    # ------------------------------------------------------------------ helpers
    def _advance_expert(self, action: str, invalid: bool) -> None:
        pos = self._gold_pos
        if pos is not None and pos < len(self._gold) and action == self._gold[pos]:
            # The gold action itself, even if the simulator rejects it: ScienceWorld's gold paths
            # contain menu answers ("0") that are only valid when the command before was ambiguous.
            self._gold_pos = pos + 1
        elif not invalid:  # a rejected non-gold action leaves state and expert unchanged
            self._gold_pos = None

    def _expert_action(self, done: bool) -> str | None:
        pos = self._gold_pos
        if done or pos is None or pos >= len(self._gold):
            return None
        return self._gold[pos]

    def _enumerate(self, server: Any) -> list[str] | None:
        if not self.enumerate_admissible:
            return None
        return sorted(str(a) for a in server.getValidActionObjectCombinations())

    def _transition(self, obs: str, *, invalid: bool, won: bool, lost: bool) -> Transition:
        return Transition(
            observation=obs,
            score=min(max(self._score_100, 0), 100) / 100.0,
            won=won,
            lost=lost,
            invalid_action=invalid,
            admissible_actions=self._admissible,
            expert_action=self._expert_action(won or lost),
            extra={"scienceworld/score_100": self._score_100},
        )
