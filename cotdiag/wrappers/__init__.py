"""Wrappers that turn CoTDiag envs into the study's decoding conditions, plus the shared response
grammar (:mod:`~cotdiag.wrappers.format`), parser (:mod:`~cotdiag.wrappers.parsing`) and prompt
renderer (:mod:`~cotdiag.wrappers.history`).

Stable entry points for policies and the dataset builder:

* ``parse_response(completion, *, mode="cot", prefill=None, fmt=DEFAULT_FORMAT,
  normalization=DEFAULT_NORMALIZATION, max_length=MAX_RESPONSE_LENGTH, max_action_length=None)
  -> ParseResult(action, reasoning, status)``
* ``render_prompt(task, observation, history=(), *, mode="cot", admissible_actions=None,
  config=NO_HISTORY, fmt=DEFAULT_FORMAT) -> str`` (and ``render_messages`` with the same arguments)
"""

from __future__ import annotations

from cotdiag.wrappers.admissible import AdmissibleActionWrapper, hashed_bag_of_words
from cotdiag.wrappers.conflicting import ConflictingTraceWrapper
from cotdiag.wrappers.decoding import FORMAT_ERROR_POLICIES, FORMAT_PENALTY, DecodingModeWrapper
from cotdiag.wrappers.format import (
    ACTION_CLOSE,
    ACTION_OPEN,
    DEFAULT_FORMAT,
    THINK_CLOSE,
    THINK_OPEN,
    ResponseFormat,
)
from cotdiag.wrappers.history import (
    NO_HISTORY,
    REASONING_MODES,
    HistoryConfig,
    HistoryStep,
    chat_messages,
    instructions,
    render_messages,
    render_prompt,
    select_history,
)
from cotdiag.wrappers.parsing import (
    DEFAULT_NORMALIZATION,
    MAX_RESPONSE_LENGTH,
    MODES,
    PARSE_STATUSES,
    ActionNormalization,
    ParseResult,
    normalization_for,
    parse_response,
)
from cotdiag.wrappers.reasoner_actor import ReasonerActorEnv, ReasonerActorParallelEnv
from cotdiag.wrappers.traces import (
    SwapTraceSource,
    TemplateTraceSource,
    TraceContext,
    TraceSource,
    register_templates,
    truncate,
)

__all__ = [
    "ACTION_CLOSE",
    "ACTION_OPEN",
    "DEFAULT_FORMAT",
    "DEFAULT_NORMALIZATION",
    "MAX_RESPONSE_LENGTH",
    "MODES",
    "NO_HISTORY",
    "PARSE_STATUSES",
    "REASONING_MODES",
    "THINK_CLOSE",
    "THINK_OPEN",
    "FORMAT_ERROR_POLICIES",
    "FORMAT_PENALTY",
    "ActionNormalization",
    "AdmissibleActionWrapper",
    "hashed_bag_of_words",
    "ConflictingTraceWrapper",
    "ReasonerActorEnv",
    "ReasonerActorParallelEnv",
    "DecodingModeWrapper",
    "SwapTraceSource",
    "TemplateTraceSource",
    "TraceContext",
    "TraceSource",
    "register_templates",
    "truncate",
    "HistoryConfig",
    "HistoryStep",
    "ParseResult",
    "ResponseFormat",
    "instructions",
    "normalization_for",
    "parse_response",
    "chat_messages",
    "render_messages",
    "render_prompt",
    "select_history",
]
