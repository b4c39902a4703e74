"""The decoding protocol: the one description of a model's input and of its action tokens.

The study measures how a model's action depends on its prompt and on its reasoning, so the exact
model input *is* the experiment (docs/concepts.md (arXiv 2606.26935), "The decoding protocol").
:class:`DecodingProtocol` holds every choice that shapes it (history policy, admissible actions,
context budget, response tags, the action-span rule); its defaults are defined here and nowhere
else. ``build-data`` writes it into the dataset's metadata, ``train sft|grpo`` copy it into every
checkpoint folder (:data:`PROTOCOL_FILE`), and ``evaluate`` reads it back from a checkpoint.

History policies:

* ``"conversation"`` (default): the episode is one chat. System: the instructions; user: the task
  and the first observation; assistant: the response as the model wrote it (reasoning included,
  prefill included); user: the next observation; and so on. Past a token budget
  (:attr:`DecodingProtocol.max_context_tokens`) the oldest middle turns are dropped in
  (assistant, user) pairs, always keeping the system message, the first user turn and the most
  recent turns (:func:`fit_conversation`); a turn is never cut in half.
* ``"window"``: each state is re-rendered as one prompt with the last ``window`` steps (past
  reasoning stripped), as in :func:`cotdiag.response.render_prompt`.

The span rule (:func:`span_token_mask`): a token is an *action token* when its character span
overlaps the action text between the action tags. A token that straddles a tag boundary
(``"<action>go"`` as one token) therefore counts as an action token: its loss teaches the action's
first characters, so masking the action must remove it too. SFT labels, both GRPO paths and the
attention and gradient diagnostics use this rule.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from cotdiag.error import InvalidConfigError
from cotdiag.response.format import DEFAULT_FORMAT, ResponseFormat
from cotdiag.response.prompt import HistoryConfig, plain_conversation  # noqa: F401  (re-exported)

#: History policies of a protocol.
HISTORY_POLICIES: tuple[str, ...] = ("conversation", "window")
#: File name of a protocol inside a dataset or checkpoint folder.
PROTOCOL_FILE = "cotdiag_protocol.json"


@dataclass(frozen=True)
class DecodingProtocol:
    """How a model sees a decision state and which of its tokens are the action.

    Attributes:
        history: ``"conversation"`` (one chat per episode) or ``"window"`` (one prompt per state).
        window: past steps shown by the ``"window"`` policy (``None``: all).
        keep_first: the ``"window"`` policy always shows the episode's first observation.
        show_admissible: list the admissible actions after each observation.
        max_context_tokens: token budget of the model input (``"conversation"``: middle turns are
            dropped past it; SFT examples are cut at turn boundaries to fit it).
        fmt: the response tags.

    Raises:
        InvalidConfigError: unknown ``history``, negative ``window``, ``max_context_tokens < 64``.

    Example:
        >>> DecodingProtocol().history, DecodingProtocol(history="window").history_config().window
        ('conversation', 3)
    """

    history: str = "conversation"
    window: int | None = 3
    keep_first: bool = True
    show_admissible: bool = False
    max_context_tokens: int = 2048
    fmt: ResponseFormat = field(default=DEFAULT_FORMAT)

    def __post_init__(self) -> None:
        if self.history not in HISTORY_POLICIES:
            raise InvalidConfigError(f"expected history in {list(HISTORY_POLICIES)}, got {self.history!r}")
        if self.window is not None and (not isinstance(self.window, int) or self.window < 0):
            raise InvalidConfigError(f"expected window to be None or an int >= 0, got {self.window!r}")
        if not isinstance(self.max_context_tokens, int) or self.max_context_tokens < 64:
            raise InvalidConfigError(f"expected max_context_tokens >= 64, got {self.max_context_tokens!r}")

    @property
    def conversation(self) -> bool:
        """Whether the episode is one chat."""
        return self.history == "conversation"

    def history_config(self) -> HistoryConfig:
        """The :class:`HistoryConfig` of the ``"window"`` policy (the conversation policy shows none)."""
        if self.conversation:
            return HistoryConfig(window=0)
        return HistoryConfig(window=self.window, keep_first=self.keep_first)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``fmt`` as its four tags)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DecodingProtocol:
        """Inverse of :meth:`to_dict`.

        Raises:
            InvalidConfigError: an unknown key or a bad value.
        """
        d = dict(d)
        unknown = set(d) - {f for f in cls.__dataclass_fields__}
        if unknown:
            raise InvalidConfigError(f"unknown decoding protocol keys {sorted(unknown)}")
        if isinstance(d.get("fmt"), dict):
            d["fmt"] = ResponseFormat(**d["fmt"])
        return cls(**d)

    def replace(self, **changes: Any) -> DecodingProtocol:
        """A copy with ``changes`` applied."""
        return replace(self, **changes)

    def save(self, folder: str | Path) -> Path:
        """Write :data:`PROTOCOL_FILE` into ``folder``; returns its path."""
        p = Path(folder) / PROTOCOL_FILE
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        return p


class ConversationPrompt(str):
    """A decision state of a conversation, usable wherever a prompt string is.

    Its text is :func:`plain_conversation` of ``messages`` (what a model without a chat template
    reads); ``messages`` (``system``, ``user``, ``assistant``, ..., ending with the state's ``user``
    turn) is what :func:`cotdiag.response.build_model_text` renders for a chat model. The diagnostics
    pass states around as prompt strings, so this is how a conversation state reaches them intact.

    Example:
        >>> p = ConversationPrompt([{"role": "system", "content": "s"}, {"role": "user", "content": "u"}])
        >>> str(p), p.messages[-1]["content"], p.with_last_user("u + hint").messages[-1]["content"]
        ('s\\n\\nu', 'u', 'u + hint')
    """

    messages: tuple[dict[str, str], ...]

    def __new__(cls, messages: Sequence[dict[str, str]]) -> ConversationPrompt:
        msgs = tuple({"role": m["role"], "content": m["content"]} for m in messages)
        obj = super().__new__(cls, plain_conversation(msgs))
        obj.messages = msgs
        return obj

    def with_last_user(self, content: str) -> ConversationPrompt:
        """The same state with its last user turn replaced by ``content``."""
        return ConversationPrompt([*self.messages[:-1], {"role": "user", "content": content}])

    def __reduce__(self) -> tuple[Any, ...]:  # pickling (Ray, multiprocessing) keeps the messages
        return (ConversationPrompt, (list(self.messages),))


def load_protocol(folder: str | Path) -> DecodingProtocol | None:
    """The protocol saved in ``folder`` (a dataset or checkpoint), or ``None`` when it has none.

    Raises:
        InvalidConfigError: the file is not a protocol.
    """
    p = Path(folder) / PROTOCOL_FILE
    if not p.is_file():
        return None
    try:
        return DecodingProtocol.from_dict(json.loads(p.read_text()))
    except (json.JSONDecodeError, TypeError) as e:
        raise InvalidConfigError(f"{p} is not a decoding protocol: {e}") from e


def rendering_differences(have: DecodingProtocol | None, want: DecodingProtocol) -> list[str]:
    """The choices of ``want`` (a model's protocol) that data rendered with ``have`` does not share:
    ``history``, ``show_admissible`` and ``fmt``, plus ``window`` and ``keep_first`` for the
    ``"window"`` policy. ``have`` ``None`` is per-state data written without a protocol file, taken
    as the ``"window"`` policy with ``want``'s window. ``max_context_tokens`` is a budget, not a
    rendering, and is not compared.

    Example:
        >>> rendering_differences(DecodingProtocol(), DecodingProtocol(history="window"))
        ['history']
    """
    if have is None:
        return ["history"] if want.conversation else []
    keys = ["history", "show_admissible", "fmt"] + ([] if want.conversation else ["window", "keep_first"])
    return [k for k in keys if getattr(have, k) != getattr(want, k)]


def span_token_mask(offsets: Sequence[tuple[int, int]], start: int, end: int) -> list[int]:
    """The span rule: 1 on tokens whose character span ``[s, e)`` overlaps ``[start, end)``.

    Args:
        offsets: ``(s, e)`` character offsets of each token (a fast tokenizer's offset mapping).
        start: first character of the action text (after the opening tag).
        end: one past its last character (where the closing tag starts).

    Returns:
        ``list[int]`` of length ``len(offsets)``.

    Example:
        >>> span_token_mask([(0, 8), (8, 10), (10, 19)], 6, 10)  # a token straddling the tag counts
        [1, 1, 0]
    """
    return [int(s < end and e > start) for s, e in offsets]


def observation_turn(observation: str, admissible_actions: Sequence[str] | None = None) -> str:
    """A conversation's user turn after the first: the observation (then the admissible actions, when shown)."""
    text = observation.strip()
    if admissible_actions is not None:
        text += "\n\nAdmissible actions: " + ", ".join(admissible_actions)
    return text


def fit_conversation(messages: Sequence[dict[str, str]], n_tokens: Any, budget: int,
                     block: int = 1) -> list[dict[str, str]]:
    """Drop the oldest middle turns, in (assistant, user) pairs, until the conversation fits ``budget``.

    The system message and the first user turn are always kept, and so are the most recent turns:
    ``messages[:2] + messages[2 + 2j:]`` for the smallest ``j`` whose token count fits (or the
    shortest such tail when none does), rounded up to a multiple of ``block`` (never past the
    last user turn). With ``block = 1`` each new turn past the budget drops one more pair, which
    changes the model input's prefix every turn; with ``block = B`` the kept turns start at the same
    place for about ``B`` turns, so a key/value cache of the previous turn stays valid (the visible
    history is then up to ``B - 1`` pairs shorter).

    Args:
        messages: ``[system, user, assistant, user, ...]``.
        n_tokens: ``n_tokens(messages) -> int``: the model-input length of a message list.
        budget: the token budget.
        block: pairs are dropped in multiples of this (``>= 1``).

    Raises:
        cotdiag.error.InvalidConfigError: ``block < 1``.

    Returns:
        The kept messages (``list[dict]``), a suffix-preserving subsequence of ``messages``.
    """
    if block < 1:
        raise InvalidConfigError(f"expected block >= 1, got {block}")
    msgs = list(messages)
    if len(msgs) <= 3 or n_tokens(msgs) <= budget:
        return msgs
    head, tail = msgs[:2], msgs[2:]
    j = 0
    while len(tail) - 2 * j > 2:
        j += 1
        if n_tokens(head + tail[2 * j:]) <= budget:
            break
    j = min(-(-j // block) * block, (len(tail) - 1) // 2)  # round up; keep the last user turn
    return head + tail[2 * j:]
