"""Scoring with bfcl-eval's official checkers.

* Single-turn AST categories: ``bfcl_eval.eval_checker.ast_eval.ast_checker.ast_checker`` on the
  decoded answer, after BFCL's format check (``is_function_calling_format_output``), as
  ``eval_runner._evaluate_single_ast_entry`` does.
* Relevance categories: ``irrelevance`` / ``live_irrelevance`` are won when the answer holds no call
  (``[]`` or text that does not decode), ``live_relevance`` when it holds one
  (``eval_runner._evaluate_single_relevance_entry`` with ``bfcl_eval.utils.is_empty_output``).
* Multi-turn: after each turn, BFCL's own ``state_checker`` and ``response_checker`` (from
  ``multi_turn_checker``) compare the agent's API instances and results with ground-truth instances
  that ran the turn's ground truth; a turn with ground truth needs at least one executed step, as
  ``multi_turn_checker`` requires. BFCL's ``multi_turn_checker`` itself is not called because it
  executes model output with ``eval``; this module reproduces its loop around the same
  sub-checkers, running the ground truth through :class:`~cotdiag.envs.bfcl.executor.APISession`.
  The entry is won when every turn passes, which is ``multi_turn_checker``'s verdict (it stops at
  the first failing turn).

The answer decoding of single-turn entries is :func:`cotdiag.envs.bfcl.calls.parse_calls`
(BFCL's ``ast_parse`` evaluates some argument nodes with ``eval``); on literal keyword arguments
both decoders give the same ``[{name: {param: value}}]``.
"""

from __future__ import annotations

import copy
import importlib
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from cotdiag.envs.bfcl.calls import Call, CallSyntaxError, parse_calls
from cotdiag.envs.bfcl.data import AST_CATEGORIES
from cotdiag.envs.bfcl.executor import APISession
from cotdiag.error import InvalidConfigError

#: Model name handed to the AST checker: a prompt-mode model whose function names keep their dots
#: (``Qwen/Qwen3-8B``, the study's model; the checker maps ``_`` back to ``/``).
CHECKER_MODEL_NAME = "Qwen_Qwen3-8B"


@dataclass
class Verdict:
    """The official verdict on an answer or a turn.

    Attributes:
        valid: the checker accepts it.
        error: the checker's error message (empty when valid).
        error_type: the checker's error type (``"multi_turn:instance_state_mismatch"``, ...).
    """

    valid: bool
    error: str = ""
    error_type: str = ""


#: The official AST checker module: importing it imports every model handler of bfcl-eval (its
#: ``model_config``), about 6 s of CPU, which used to land on an episode's first step.
AST_CHECKER_MODULE = "bfcl_eval.eval_checker.ast_eval.ast_checker"
_warm_lock = threading.Lock()
_warm_thread: threading.Thread | None = None


def warm_up_ast_checker() -> threading.Thread:
    """Start importing BFCL's AST checker in a daemon thread (once per process) and return it.

    The env calls it when its split has single-turn entries, so the import overlaps with whatever
    the caller does next (loading a model, resetting) instead of stalling the first scored step;
    a step that needs the checker before the thread is done waits on Python's import lock.
    """
    global _warm_thread
    with _warm_lock:
        if _warm_thread is None:
            _warm_thread = threading.Thread(
                target=importlib.import_module, args=(AST_CHECKER_MODULE,), name="bfcl-checker-import", daemon=True
            )
            _warm_thread.start()
        return _warm_thread


def score_single_turn(category: str, entry: dict[str, Any], ground_truth: Any, answer: str) -> tuple[Verdict, bool]:
    """Score a single-turn answer.

    Args:
        category: the entry's category (an AST or relevance category).
        entry: the BFCL prompt entry (``entry["function"]`` is read, never mutated).
        ground_truth: ``[{func: {param: [accepted values]}}]``, or ``None`` for relevance categories.
        answer: the agent's action.

    Returns:
        ``(verdict, parsed)``: ``parsed`` is ``False`` when the answer is not a list of literal calls.
        An answer our parser rejects never wins, except the plain-text (not call-shaped) abstention
        on an irrelevance entry, which BFCL also counts as "no call".
    """
    try:
        calls = parse_calls(answer, allow_dotted=True)
    except CallSyntaxError as e:
        if category in ("irrelevance", "live_irrelevance") and not e.call_shaped:
            return Verdict(True), False
        return Verdict(False, str(e), "ast_decoder:decoder_failed"), False
    decoded = [c.as_decoded() for c in calls]
    if category in ("irrelevance", "live_irrelevance", "live_relevance"):
        from bfcl_eval.utils import is_empty_output

        has_call = not is_empty_output(decoded)
        if category == "live_relevance":
            return (Verdict(True) if has_call else Verdict(False, "no function call", "relevance_error:decoder_failed")), True
        return (Verdict(False, "function call made", "irrelevance_error:decoder_success") if has_call else Verdict(True)), True
    if category not in AST_CATEGORIES:
        raise InvalidConfigError(f"expected a single-turn category, got {category!r}")
    from bfcl_eval.constants.enums import Language
    from bfcl_eval.eval_checker.ast_eval.ast_checker import ast_checker
    from bfcl_eval.utils import is_function_calling_format_output

    if not is_function_calling_format_output(decoded):  # pragma: no cover - our decoder always conforms
        return Verdict(False, "wrong output format", "ast_decoder:decoder_wrong_output_format"), True
    result = ast_checker(
        copy.deepcopy(entry["function"]), decoded, ground_truth, Language.PYTHON, category, CHECKER_MODEL_NAME
    )
    if result["valid"]:
        return Verdict(True), True
    return Verdict(False, "; ".join(map(str, result.get("error", []))), str(result.get("error_type", ""))), True


@dataclass
class MultiTurnJudge:
    """Judges one multi-turn episode turn by turn with BFCL's state and response checkers.

    Args:
        entry: the BFCL prompt entry.
        ground_truth: ``[[call, ...] per turn]`` with keyword-form :class:`Call` objects.
        long_context: load the scenario in long-context mode.

    Attributes:
        checker_time_s: wall time spent judging (ground-truth execution and checkers), seconds.
    """

    entry: dict[str, Any]
    ground_truth: list[list[Call]]
    long_context: bool
    checker_time_s: float = 0.0
    _session: APISession | None = field(default=None, repr=False)

    def judge_turn(
        self, turn: int, model_session: APISession, executed_steps: int, all_results: list[str]
    ) -> Verdict:
        """Verdict on ``turn`` (call turns in order, each once).

        Args:
            turn: turn index.
            model_session: the agent's API instances after the turn.
            executed_steps: number of executed (non-empty) call steps in the turn.
            all_results: every result string the agent's calls produced so far, all turns.
        """
        from bfcl_eval.eval_checker.multi_turn_eval.multi_turn_checker import (
            response_checker,
            state_checker,
        )

        t0 = time.perf_counter()
        try:
            if self._session is None:
                self._session = APISession(
                    self.entry["involved_classes"], self.entry["initial_config"], long_context=self.long_context
                )
            gt_calls = self.ground_truth[turn]
            gt_results = self._session.execute(gt_calls)
            if not gt_calls:  # BFCL checks nothing on a turn without ground truth
                return Verdict(True)
            if executed_steps == 0:
                return Verdict(False, f"Model response list is empty for turn {turn}", "multi_turn:empty_turn_model_response")
            for check in (
                lambda: state_checker(model_session.instances, self._session.instances),
                lambda: response_checker(all_results, gt_results, turn),
            ):
                result = check()
                if not result["valid"]:
                    return Verdict(False, str(result.get("error_message", "")), str(result.get("error_type", "")))
            return Verdict(True)
        finally:
            self.checker_time_s += time.perf_counter() - t0
