"""Parse a policy's response into a clean action, its reasoning, and a parse status.

The grammar is the one of :mod:`cotdiag.response.format`:

* CoT mode: ``<think>REASONING</think><action>ACTION</action>``;
* prompt mode: the response is prefilled with ``<action>`` and the model completes
  ``ACTION</action>``.

:func:`parse_response` is a pure function (no env, no state); the decoding wrapper, the LLM
policies, the dataset builder and the diagnostics all call it, so they agree on what an action is.

Parse status taxonomy (:data:`PARSE_STATUSES`), checked in this order, first match wins:

===========================  ================================================================
status                       meaning
===========================  ================================================================
``too_long``                 the completion has more than ``max_length`` characters, or the
                             extracted action more than ``max_action_length``
``empty``                    the completion is empty or whitespace, or the action between the
                             tags is empty after normalization
``missing_action_tag``       no ``<action>`` tag (after the prefill)
``multiple_actions``         more than one ``<action>`` or ``</action>`` tag (this includes
                             nested tags)
``unclosed_action_tag``      ``<action>`` without a following ``</action>``
``reasoning_in_prompt_mode`` prompt mode, and the response holds think tags or non-whitespace
                             text outside the action span
``ok``                       exactly one well-formed action
===========================  ================================================================

Only ``ok`` is a well-formed response; every other status is a *format error*. The returned
``action`` is authoritative only when the status is ``ok``; for ``missing_action_tag``,
``multiple_actions``, ``unclosed_action_tag`` and ``reasoning_in_prompt_mode`` it is a best-effort
extraction (used by the ``pass_through`` policy of the decoding wrapper), for ``empty`` and
``too_long`` it is ``None``.

Action normalization (:class:`~cotdiag.envs.actions.ActionNormalization`, declared by each env as
``action_normalization``; see :mod:`cotdiag.envs.actions` for what each env declares and why) is
applied to the extracted action; :func:`normalization_for` reads it.

Trailing text after ``</action>`` is ignored in CoT mode (models often add an end-of-turn marker);
in prompt mode it counts as reasoning (``reasoning_in_prompt_mode``).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from cotdiag.envs.actions import DEFAULT_NORMALIZATION, ActionNormalization
from cotdiag.error import InvalidConfigError, InvalidTypeError
from cotdiag.response.format import DEFAULT_FORMAT, ResponseFormat

#: The parse statuses, in the order they are checked (``"ok"`` last).
PARSE_STATUSES: tuple[str, ...] = (
    "too_long",
    "empty",
    "missing_action_tag",
    "multiple_actions",
    "unclosed_action_tag",
    "reasoning_in_prompt_mode",
    "ok",
)
#: The two decoding modes.
DECODING_MODES: tuple[str, ...] = ("prompt", "cot")
#: Default maximum completion length in characters.
MAX_RESPONSE_LENGTH = 32_768

def normalization_for(env: Any) -> ActionNormalization:
    """The :class:`ActionNormalization` an env declares (``env.unwrapped.action_normalization``).

    Args:
        env: a Gymnasium env (wrapped or not), or a registered env id (its class is read, the env
            is not built; an unknown id gets the default).

    Returns:
        The declared normalization, or :data:`DEFAULT_NORMALIZATION` when the env declares none.

    Raises:
        TypeError: the env declares something that is not an :class:`ActionNormalization`.
    """
    if isinstance(env, str):
        from cotdiag.envs import env_class

        env = env_class(env)
    target = env if isinstance(env, type) or env is None else getattr(env, "unwrapped", env)  # a class has no env
    norm = getattr(target, "action_normalization", None)  # TextEnv declares one
    if norm is None:
        return DEFAULT_NORMALIZATION
    if not isinstance(norm, ActionNormalization):
        raise InvalidTypeError(f"expected action_normalization of type ActionNormalization, got {type(norm).__name__}")
    return norm


class ParseResult(NamedTuple):
    """What :func:`parse_response` returns (a 3-tuple: ``action, reasoning, status = ...``).

    Attributes:
        action: the normalized action (authoritative only when ``status == "ok"``; a best-effort
            extraction or ``None`` otherwise, see the module docstring).
        reasoning: the reasoning text (inside the think tags, or the text before ``<action>`` when
            the think tags are missing), stripped; ``""`` when there is none.
        status: one of :data:`PARSE_STATUSES`.
    """

    action: str | None
    reasoning: str
    status: str

    @property
    def ok(self) -> bool:
        """``status == "ok"``."""
        return self.status == "ok"


def _reasoning(text: str, fmt: ResponseFormat) -> str:
    """Text inside the first think span (to its close tag or the end), else ``text`` without tags."""
    i = text.find(fmt.think_open)
    if i >= 0:
        j = text.find(fmt.think_close, i + len(fmt.think_open))
        inner = text[i + len(fmt.think_open) : j if j >= 0 else len(text)]
    else:
        inner = text.replace(fmt.think_close, "")
    return inner.strip()


def parse_response(
    completion: str,
    *,
    mode: str = "cot",
    prefill: str | None = None,
    fmt: ResponseFormat = DEFAULT_FORMAT,
    normalization: ActionNormalization = DEFAULT_NORMALIZATION,
    max_length: int = MAX_RESPONSE_LENGTH,
    max_action_length: int | None = None,
) -> ParseResult:
    """Parse one completion into ``(action, reasoning, status)``.

    Args:
        completion: the text the policy generated, *without* the prefill.
        mode: ``"cot"`` or ``"prompt"``.
        prefill: the text the response was prefilled with; ``None`` means the mode's default
            (``fmt.action_open`` in prompt mode, ``""`` in CoT mode). Pass ``""`` to parse a full
            response that already contains the prefill.
        fmt: the response tags.
        normalization: how the action is normalized (see :func:`normalization_for`).
        max_length: completions longer than this many characters are ``too_long`` (checked before
            anything else, so megabyte strings are rejected in O(1)).
        max_action_length: actions longer than this many characters (after normalization) are
            ``too_long``; ``None`` for no limit.

    Returns:
        A :class:`ParseResult` ``(action, reasoning, status)``.

    Raises:
        ValueError: ``mode`` is not ``"cot"`` or ``"prompt"``.
        TypeError: ``completion`` is not a ``str``.

    Example:
        >>> parse_response("<think>The mug is on the desk.</think><action>go to desk 1</action>")
        ParseResult(action='go to desk 1', reasoning='The mug is on the desk.', status='ok')
        >>> parse_response(" go to desk 1</action>", mode="prompt")
        ParseResult(action='go to desk 1', reasoning='', status='ok')
        >>> parse_response("go to desk 1", mode="cot").status
        'missing_action_tag'
    """
    if mode not in DECODING_MODES:
        raise InvalidConfigError(f"expected mode in {list(DECODING_MODES)}, got {mode!r}")
    if not isinstance(completion, str):
        raise InvalidTypeError(f"expected completion of type str, got {type(completion).__name__}")
    if len(completion) > max_length:
        return ParseResult(None, "", "too_long")
    if not completion.strip():
        return ParseResult(None, "", "empty")
    if prefill is None:
        prefill = fmt.action_open if mode == "prompt" else ""
    text = prefill + completion
    a_open, a_close = fmt.action_open, fmt.action_close
    n_open, n_close = text.count(a_open), text.count(a_close)
    start = text.find(a_open)
    if n_open == 0:
        # Best effort: the text after the reasoning (or all of it, without tags).
        k = text.rfind(fmt.think_close)
        tail = text[k + len(fmt.think_close) :] if k >= 0 else text
        action = normalization(tail.replace(a_close, "").replace(fmt.think_open, ""))
        return _finish(action or None, _reasoning(text[: max(k, 0)], fmt) if k >= 0 else "",
                       "missing_action_tag", max_action_length)
    before = text[:start]
    reasoning = _reasoning(before, fmt)
    body_start = start + len(a_open)
    end = text.find(a_close, body_start)
    if end < 0:
        body = text[body_start:]
        if a_open in body:
            head = body[: body.find(a_open)]
            body = head if head.strip() else body[body.rfind(a_open) + len(a_open) :]
        action = normalization(body)
        status = "multiple_actions" if n_open > 1 else "unclosed_action_tag"
        return _finish(action or None, reasoning, status, max_action_length)
    body = text[body_start:end]
    if a_open in body:  # nested or repeated open tag before the first close
        body = body[body.rfind(a_open) + len(a_open) :]
    k = body.rfind(fmt.think_close)
    if k >= 0 or fmt.think_open in body:  # reasoning inside the action span (prompt-mode prefill)
        reasoning = reasoning or _reasoning(body[: max(k, 0)] if k >= 0 else body, fmt)
        body = body[k + len(fmt.think_close) :] if k >= 0 else body.replace(fmt.think_open, "")
    action = normalization(body)
    if not action and n_open == 1 and n_close == 1:
        return ParseResult(None, reasoning, "empty")
    if n_open > 1 or n_close > 1:
        return _finish(action or None, reasoning, "multiple_actions", max_action_length)
    after = text[end + len(a_close) :]
    if mode == "prompt" and (
        before.strip() or after.strip() or fmt.think_open in text or fmt.think_close in text
    ):
        return _finish(action, reasoning or _reasoning(after, fmt), "reasoning_in_prompt_mode",
                       max_action_length)
    return _finish(action, reasoning, "ok", max_action_length)


def _finish(action: str | None, reasoning: str, status: str, max_action_length: int | None) -> ParseResult:
    if action is not None and max_action_length is not None and len(action) > max_action_length:
        return ParseResult(None, reasoning, "too_long")
    return ParseResult(action, reasoning, status)
