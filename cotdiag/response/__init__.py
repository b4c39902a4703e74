"""The response grammar and everything that reads or writes it.

=========================== ================================================================
module                      holds
=========================== ================================================================
:mod:`.format`              :class:`ResponseFormat`: the ``<think>``/``<action>`` tags
:mod:`.parsing`             :func:`parse_response` and its status taxonomy (format errors)
:mod:`.prompt`              the one renderer: :func:`render_prompt` / :func:`render_messages`
                            (instructions, task, history window, observation),
                            :func:`chat_messages` and :func:`build_model_text` (the exact model
                            input for SFT data, GRPO, generation and the diagnostics)
:mod:`.protocol`            :class:`~.protocol.DecodingProtocol` (history policy, context budget,
                            tags, span rule; ``cotdiag_protocol.json``), conversation truncation,
                            :class:`~.protocol.ConversationPrompt`
=========================== ================================================================

Definitions of the prompt action and the CoT action: ``docs/concepts.md`` (arXiv 2606.26935).

Stable entry points:

* ``parse_response(completion, *, mode="cot", prefill=None, fmt=DEFAULT_FORMAT,
  normalization=DEFAULT_NORMALIZATION, max_length=MAX_RESPONSE_LENGTH, max_action_length=None)
  -> ParseResult(action, reasoning, status)``
* ``render_prompt(task, observation, history=(), *, mode="cot", admissible_actions=None,
  config=NO_HISTORY, fmt=DEFAULT_FORMAT) -> str`` (and ``render_messages`` with the same arguments)
* ``build_model_text(tokenizer, prompt, prefill="", *, messages=None, use_chat_template=None) -> str``
"""

from __future__ import annotations

from cotdiag.envs.actions import DEFAULT_NORMALIZATION, ActionNormalization
from cotdiag.response.format import (
    ACTION_CLOSE,
    ACTION_OPEN,
    DEFAULT_FORMAT,
    THINK_CLOSE,
    THINK_OPEN,
    ResponseFormat,
)
from cotdiag.response.parsing import (
    DECODING_MODES,
    MAX_RESPONSE_LENGTH,
    PARSE_STATUSES,
    ParseResult,
    normalization_for,
    parse_response,
)
from cotdiag.response.prompt import (
    INSTRUCTIONS_HEAD,
    NO_HISTORY,
    REASONING_MODES,
    HistoryConfig,
    HistoryStep,
    build_model_text,
    chat_messages,
    has_chat_template,
    instructions,
    render_messages,
    render_prompt,
    select_history,
)

__all__ = [
    "ACTION_CLOSE",
    "ACTION_OPEN",
    "DEFAULT_FORMAT",
    "DEFAULT_NORMALIZATION",
    "INSTRUCTIONS_HEAD",
    "MAX_RESPONSE_LENGTH",
    "DECODING_MODES",
    "NO_HISTORY",
    "PARSE_STATUSES",
    "REASONING_MODES",
    "THINK_CLOSE",
    "THINK_OPEN",
    "ActionNormalization",
    "HistoryConfig",
    "HistoryStep",
    "ParseResult",
    "ResponseFormat",
    "build_model_text",
    "chat_messages",
    "has_chat_template",
    "instructions",
    "normalization_for",
    "parse_response",
    "render_messages",
    "render_prompt",
    "select_history",
]
