"""``CoTDiag-BFCL-v0``: the Berkeley Function Calling Leaderboard (v4) as a text environment."""

from __future__ import annotations

import json
import logging
from typing import Any

from cotdiag.envs.actions import ActionNormalization
from cotdiag.envs.base import TaskSpec, TextEnv, Transition
from cotdiag.envs.bfcl.calls import END_OF_TURN, Call, CallSyntaxError, calls_to_string, parse_calls
from cotdiag.envs.bfcl.data import AST_CATEGORIES, SPLITS, get_entry, is_multi_turn, list_task_ids
from cotdiag.envs.bfcl.executor import APISession, InvalidCallError
from cotdiag.envs.bfcl.expert import single_turn_expert
from cotdiag.envs.bfcl.scoring import MultiTurnJudge, score_single_turn, warm_up_ast_checker
from cotdiag.error import InvalidConfigError

logger = logging.getLogger(__name__)

#: BFCL's ``MAXIMUM_STEP_LIMIT``: more executed steps in one turn force-terminate the entry.
BFCL_MAX_STEPS_PER_TURN = 20
#: BFCL's prompt when held-out functions come back (``DEFAULT_USER_PROMPT_FOR_ADDITIONAL_FUNCTION_FC``).
ADDED_FUNCTIONS_PROMPT = "I have updated some more functions you can choose from. What about now?"
_TRUNCATION_NOTE = "\n[... {n} characters truncated]"


_DOC_JSON: dict[tuple[str, str], str] = {}


def _doc_json(doc: dict[str, Any]) -> str:
    """``json.dumps(doc)``, cached by (name, description) for the multi-turn API docs."""
    key = (doc["name"], doc.get("description", ""))
    text = _DOC_JSON.get(key)
    if text is None:
        text = _DOC_JSON[key] = json.dumps(doc)
    return text


def _render_messages(messages: list[dict[str, Any]]) -> str:
    return "\n".join(f"{m.get('role', 'user')}: {m.get('content', '')}" for m in messages)


class BFCLEnv(TextEnv):
    """BFCL v4 (Patil et al.) function-calling entries as a Gymnasium env.

    ## Description
    Single-turn entries (``simple_python``, ``multiple``, ``parallel``, ``parallel_multiple``, the
    ``live_*`` categories, ``irrelevance``) are one-step episodes: the one action is the answer and
    is scored at once by BFCL's AST checker (relevance categories: on whether a call is made).
    Multi-turn entries (``multi_turn_base``, ``multi_turn_miss_func``, ``multi_turn_miss_param``,
    ``multi_turn_long_context``) are conversations of several user turns; in each turn the agent
    makes as many call steps as it needs, executed safely on BFCL's API classes (file system,
    Twitter, messaging, tickets, trading, travel, vehicle, math), then ends the turn. Data, API
    classes and checkers come from the installed ``bfcl-eval`` package.

    ## Observation Space
    :class:`~cotdiag.envs.spaces.UnicodeText`. At the start of each turn: ``Available functions
    (JSON schema):`` with the JSON list of the functions available now, a blank line, then the turn's
    messages as ``role: content`` lines (in a ``miss_func`` turn that brings held-out functions
    back, BFCL's ``I have updated some more functions...`` prompt). After a call step: one line per
    call, ``<call> -> <result>`` (BFCL's result strings, errors included). After an invalid action:
    the reason. A ``miss_func`` function held out until a later turn is not shown before that turn,
    but calling it runs it, as in BFCL (whose own ground truth does so). Observations longer than ``max_observation_length`` are cut with a note.

    ## Action Space
    :class:`~cotdiag.envs.spaces.UnicodeText`: Python call syntax as BFCL's prompt mode uses, one
    call ``cd(folder='docs')`` or a list ``[cd(folder='docs'), ls(a=True)]``, with keyword arguments
    whose values are literals (see :mod:`cotdiag.envs.bfcl.calls`). Agents' actions are only
    stripped of surrounding whitespace (``action_normalization``): string arguments keep theirs. The end-of-turn action is
    ``"[]"`` (:data:`~cotdiag.envs.bfcl.calls.END_OF_TURN`): it hands over to the next user turn,
    and ends the episode after the last one. Multi-turn: an action that does not parse, uses
    non-literal or positional arguments, or names a function that may not run (not declared by the
    entry's classes, or listed in ``excluded_function``) is an invalid step: no call of it runs and
    the API state is unchanged (all calls of an action are checked before any runs). Single-turn: whatever the action, it is the
    answer; one that does not parse is recorded as invalid and loses, except a plain-text
    (not call-shaped) answer to an ``irrelevance``/``live_irrelevance`` entry, which BFCL counts as
    the correct "no call".

    ## Rewards
    ``score`` is ``1.0``/``0.0`` for single-turn entries (BFCL's verdict) and, for multi-turn
    entries, the fraction of turns passing BFCL's per-turn check (state checker, response checker,
    at least one executed step when the turn has ground truth; turns without ground truth pass, as
    BFCL checks nothing there). Reward is the change of ``score``, so the return equals the final
    score; a passed turn is worth ``1 / n_turns``.

    ## Episode End
    ``terminated`` after the single-turn answer, after the end of the last turn, or when a turn
    exceeds ``max_steps_per_turn`` executed steps (BFCL force-terminates the entry: lost).
    ``won`` is BFCL's official verdict (multi-turn: every turn passed). ``truncated`` comes from
    ``TimeLimit`` (``max_episode_steps=100`` in the registration; the longest ground truth takes 37
    steps with one call per step).

    ## Arguments
    - ``split``: ``in_domain`` (single-turn categories plus ``multi_turn_base``, ``miss_func``,
      ``miss_param``), ``ood_long_context`` (``multi_turn_long_context``, the study's held-out
      setting), or any category name. Task ids are BFCL entry ids (``"multi_turn_base_0"``).
    - ``max_steps_per_turn``: executed call steps allowed per turn (BFCL's 20).
    - plus :class:`~cotdiag.envs.base.TextEnv`'s ``max_observation_length``, ``max_action_length``,
      ``render_mode``.

    ## Info Keys
    The :class:`~cotdiag.envs.info.StepInfo` contract (``task_type`` is the BFCL category, ``task``
    the first user message, ``admissible_actions`` always ``None``), plus ``bfcl/turn`` (current
    turn index), ``bfcl/n_turns``, ``bfcl/turns_passed``, ``bfcl/checker_error`` (the official
    checker's message for the last failed check, ``""`` if none), ``bfcl/request`` (the last user
    message of the current turn: what the next call answers) and ``bfcl/functions`` (names of the
    functions shown now). ``expert_action`` replays the
    ground truth: the next ground-truth call of the current turn not yet made (in canonical keyword
    form; when fewer steps are left in the turn than calls pending, the first ones come batched in a
    list), ``"[]"`` once the turn's ground truth is exhausted; single-turn: the ground-truth answer
    built from the first accepted value of each parameter (``"[]"`` for irrelevance entries,
    ``None`` for ``live_relevance``, which has no ground truth). It is a replay, not a planner:
    after a deviation it may no longer lead to success. ``None`` once the episode is over.

    ## Version History
    - v0: initial version (bfcl-eval 2026.3.23, BFCL v4 data).
    """

    splits = tuple(SPLITS)
    reasoning_templates = "cotdiag.traces.templates:BFCLTraces"
    #: Strip only: string arguments keep their whitespace (``echo(content='a  b\n c')``).
    action_normalization = ActionNormalization(collapse_whitespace=False)

    def __init__(
        self, split: str = "in_domain", *, max_steps_per_turn: int = BFCL_MAX_STEPS_PER_TURN, **kwargs: Any
    ) -> None:
        super().__init__(split, **kwargs)
        if not isinstance(max_steps_per_turn, int) or max_steps_per_turn < 1:
            raise InvalidConfigError(f"expected max_steps_per_turn >= 1, got {max_steps_per_turn!r}")
        self.max_steps_per_turn = max_steps_per_turn
        if any(c in AST_CATEGORIES for c in SPLITS.get(split, (split,))):
            warm_up_ast_checker()  # about 6 s of imports, off the first step's path
        self._category = ""
        self._entry: dict[str, Any] = {}
        self._ground_truth: Any = None
        self._multi = False
        self._single_expert: str | None = None
        self._session: APISession | None = None
        self._judge: MultiTurnJudge | None = None
        self._gt_calls: list[list[Call]] = []
        self._turn = 0
        self._turn_steps = 0
        self._all_results: list[str] = []
        self._turns_passed = 0
        self._pending: list[str] = []
        self._available: frozenset[str] = frozenset()
        self._checker_error = ""

    # ------------------------------------------------------------------ TextEnv API
    def _list_tasks(self) -> list[str]:
        return list_task_ids(self.split)

    def _reset_task(self, task_id: str) -> tuple[TaskSpec, Transition]:
        category, entry, ground_truth = get_entry(task_id)
        self._category, self._entry, self._multi = category, entry, is_multi_turn(category)
        self._ground_truth = ground_truth
        self._turn, self._turn_steps, self._turns_passed = 0, 0, 0
        self._all_results, self._checker_error = [], ""
        first = next((m["content"] for t in entry["question"] for m in t if m.get("role") == "user"), "")
        spec = TaskSpec(task_id=task_id, task_type=category, task=str(first))
        if not self._multi:
            self._session = self._judge = None
            self._single_expert = single_turn_expert(category, ground_truth, entry["function"])
            obs = self._turn_observation(entry["function"], entry["question"][0])
            return spec, self._transition(obs, expert_action=self._single_expert)
        long_context = "long_context" in category
        self._session = APISession(entry["involved_classes"], entry["initial_config"], long_context=long_context)
        self._gt_calls = [
            [self._session.to_keywords(c) for t in turn for c in parse_calls(t, allow_positional=True)]
            for turn in ground_truth
        ]
        self._judge = MultiTurnJudge(entry, self._gt_calls, long_context)
        self._available = self._callable_functions()
        return spec, self._transition(self._start_turn(), expert_action=self._expert())

    def _step_task(self, action: str) -> Transition:
        if not self._multi:
            return self._answer(action)
        try:
            calls = parse_calls(action)
            if calls:
                self._session.validate(calls, self._available)
        except (CallSyntaxError, InvalidCallError) as e:
            return self._invalid_transition(str(e))
        if not calls:
            return self._end_turn()
        results = self._session.execute(calls)
        self._turn_steps += 1
        self._all_results.extend(results)
        for call in calls:
            text = call.to_string()
            if text in self._pending:
                self._pending.remove(text)
        obs = "\n".join(f"{c.to_string()} -> {r}" for c, r in zip(calls, results, strict=True))
        if self._turn_steps > self.max_steps_per_turn:
            self._checker_error = f"force-terminated: more than {self.max_steps_per_turn} steps in turn {self._turn}"
            return self._transition(obs + f"\n{self._checker_error}.", lost=True)
        return self._transition(obs, expert_action=self._expert())

    def _invalid_transition(self, feedback: str) -> Transition:
        if not self._multi:  # the one answer did not even fit: it loses
            return self._transition(feedback, lost=True, invalid=True)
        return self._transition(feedback, invalid=True, expert_action=self._expert())

    # ------------------------------------------------------------------ helpers
    @property
    def api_instances(self) -> dict[str, Any]:
        """The running episode's BFCL API instances by class name (empty for single-turn)."""
        return dict(self._session.instances) if self._session is not None else {}

    @property
    def checker_time_s(self) -> float:
        """Seconds spent in the multi-turn checkers this episode (ground truth + state/response)."""
        return self._judge.checker_time_s if self._judge is not None else 0.0

    def _answer(self, action: str) -> Transition:
        verdict, parsed = score_single_turn(self._category, self._entry, self._ground_truth, action)
        self._checker_error = verdict.error
        obs = "Answer recorded: correct." if verdict.valid else f"Answer recorded: incorrect ({verdict.error})."
        return self._transition(obs, won=verdict.valid, lost=not verdict.valid, invalid=not parsed)

    def _available_functions(self) -> list[dict[str, Any]]:
        """Docs shown at the current turn: the entry's functions plus those brought back so far."""
        docs = list(self._entry["function"])
        for turn, missed in self._entry.get("missed_function", {}).items():
            if int(turn) <= self._turn:
                docs.extend(missed)
        excluded = set(self._entry.get("excluded_function", []))
        return [d for d in docs if d["name"] not in excluded]

    def _request(self) -> str:
        """The last user message of the current turn (the episode's last turn once it is over)."""
        questions = self._entry["question"]
        for turn in reversed(questions[: min(self._turn, len(questions) - 1) + 1]):
            users = [m["content"] for m in turn if m.get("role") == "user"]
            if users:
                return str(users[-1])
        return ""

    def _callable_functions(self) -> frozenset[str]:
        """Names that may run: every declared function of the entry's classes, held-out ones
        included (BFCL executes them too; its own ground truth uses some before they are shown),
        minus ``excluded_function``."""
        names = {d["name"] for d in self._entry["function"]}
        names.update(d["name"] for missed in self._entry.get("missed_function", {}).values() for d in missed)
        return frozenset(names - set(self._entry.get("excluded_function", [])))

    def _start_turn(self) -> str:
        docs = self._available_functions()
        self._turn_steps = 0
        self._pending = [c.to_string() for c in self._gt_calls[self._turn]]
        messages = self._entry["question"][self._turn]
        if str(self._turn) in self._entry.get("missed_function", {}) and not messages:
            messages = [{"role": "user", "content": ADDED_FUNCTIONS_PROMPT}]
        return self._turn_observation(docs, messages)

    def _turn_observation(self, docs: list[dict[str, Any]], messages: list[dict[str, Any]]) -> str:
        if self._multi:  # the API classes' docs recur across entries: encode each doc once
            docs_json = "[" + ", ".join(_doc_json(d) for d in docs) + "]"
        else:
            docs_json = json.dumps(docs)
        return f"Available functions (JSON schema):\n{docs_json}\n\n{_render_messages(messages)}"

    def _end_turn(self) -> Transition:
        verdict = self._judge.judge_turn(self._turn, self._session, self._turn_steps, self._all_results)
        if verdict.valid:
            self._turns_passed += 1
        else:
            self._checker_error = f"turn {self._turn}: {verdict.error}"
        self._turn += 1
        n_turns = len(self._gt_calls)
        if self._turn < n_turns:
            return self._transition(self._start_turn(), expert_action=self._expert())
        won = self._turns_passed == n_turns
        obs = f"The conversation is over: {self._turns_passed} of {n_turns} turns passed."
        return self._transition(obs, won=won, lost=not won)

    def _expert(self) -> str:
        """Next pending ground-truth call; when fewer steps are left in the turn than calls pending,
        the first calls are batched into one list so the replay fits ``max_steps_per_turn``."""
        if not self._pending:
            return END_OF_TURN
        extra = len(self._pending) - (self.max_steps_per_turn - self._turn_steps)
        if extra > 0:
            return "[" + ", ".join(self._pending[: extra + 1]) + "]"
        return self._pending[0]

    def _transition(
        self, obs: str, *, won: bool = False, lost: bool = False, invalid: bool = False, expert_action: str | None = None
    ) -> Transition:
        limit = self.observation_space.max_length
        if len(obs) > limit:
            keep = max(0, limit - 64)  # room for the note
            obs = (obs[:keep] + _TRUNCATION_NOTE.format(n=len(obs) - keep))[:limit]
        if self._multi:
            score = self._turns_passed / max(1, len(self._gt_calls))
        else:
            score = 1.0 if won else 0.0
        return Transition(
            observation=obs,
            score=float(score),
            won=won,
            lost=lost,
            invalid_action=invalid,
            admissible_actions=None,
            expert_action=None if (won or lost) else expert_action,
            extra={
                "bfcl/turn": self._turn,
                "bfcl/n_turns": len(self._gt_calls) if self._multi else 1,
                "bfcl/turns_passed": self._turns_passed if self._multi else int(won),
                "bfcl/checker_error": self._checker_error,
                "bfcl/request": self._request(),
                "bfcl/functions": [d["name"] for d in (self._available_functions() if self._multi else self._entry["function"])],
            },
        )


__all__ = ["BFCLEnv", "END_OF_TURN", "calls_to_string"]
