"""The decision state a reasoning trace is written for, the trace-source protocol, and truncation."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from cotdiag.error import InvalidConfigError

TRUNCATION_UNITS: tuple[str, ...] = ("chars", "tokens")


@dataclass(frozen=True)
class TraceContext:
    """The decision state a trace is written for (built from the ``info`` contract).

    Attributes:
        task: goal text (``info["task"]``).
        task_type: task family (``info["task_type"]``).
        observation: the current observation (``info["env_observation"]`` or the raw observation).
        admissible_actions: ``info["admissible_actions"]`` (``None`` where not enumerable).
        expert_action: ``info["expert_action"]``.
        past_actions: the actions taken earlier in the episode, oldest first.
        info: the full ``info`` dict (env-specific keys, e.g. BFCL function docs).
        past_observations: the observation before each past action, oldest first (the reset
            observation first; empty where the caller does not keep them).
    """

    task: str
    task_type: str = ""
    observation: str = ""
    admissible_actions: Sequence[str] | None = None
    expert_action: str | None = None
    past_actions: Sequence[str] = ()
    info: dict[str, Any] = field(default_factory=dict)
    past_observations: Sequence[str] = ()

    @classmethod
    def from_info(cls, info: dict[str, Any], observation: str = "", past_actions: Sequence[str] = (),
                  past_observations: Sequence[str] = ()) -> TraceContext:
        """Build a context from an env ``info`` dict (missing keys get defaults)."""
        return cls(
            task=str(info.get("task", "")), task_type=str(info.get("task_type", "")),
            observation=str(info.get("env_observation", observation)),
            admissible_actions=info.get("admissible_actions"), expert_action=info.get("expert_action"),
            past_actions=tuple(past_actions), info=dict(info), past_observations=tuple(past_observations),
        )


@runtime_checkable
class TraceSource(Protocol):
    """``source(ctx, action, rng) -> str | None``: a trace arguing for ``action``, or ``None``."""

    def __call__(self, ctx: TraceContext, action: str, rng: np.random.Generator) -> str | None: ...


def candidate_actions(source: Any, ctx: TraceContext, rng: np.random.Generator) -> list[str]:
    """Actions a conflicting trace may argue for: ``ctx.admissible_actions`` where the env lists
    them, else the source's ``distractors(ctx, rng)`` (e.g. BFCL), else none. Callers drop the
    action the trace must conflict with."""
    if ctx.admissible_actions is not None:
        return list(ctx.admissible_actions)
    proposer = getattr(source, "distractors", None)
    return list(proposer(ctx, rng)) if proposer is not None else []


def truncate(trace: str, fraction: float, unit: str = "chars", tokenizer: Any = None) -> str:
    """Keep the first ``fraction`` of ``trace``.

    Args:
        trace: the full trace.
        fraction: in ``[0, 1]``; the kept length is ``round(fraction * n)`` units.
        unit: ``"chars"`` (Python characters) or ``"tokens"``: the tokenizer's tokens when a
            ``tokenizer`` with ``encode``/``decode`` (Hugging Face) is given, else whitespace-separated
            words (the whitespace after a kept word is kept, the trailing one stripped).
        tokenizer: optional tokenizer for ``unit="tokens"``.

    Returns:
        The truncated trace (``""`` for ``fraction=0``, ``trace`` for ``fraction=1``).

    Raises:
        ValueError: ``fraction`` outside ``[0, 1]`` or unknown ``unit``.

    Example:
        >>> truncate("the mug is on the desk", 0.5, "tokens")
        'the mug is'
        >>> truncate("abcd", 0.25)
        'a'
    """
    if not 0.0 <= fraction <= 1.0:
        raise InvalidConfigError(f"expected fraction in [0, 1], got {fraction!r}")
    if unit not in TRUNCATION_UNITS:
        raise InvalidConfigError(f"expected unit in {list(TRUNCATION_UNITS)}, got {unit!r}")
    if fraction == 1.0:
        return trace
    if unit == "chars":
        return trace[: round(fraction * len(trace))]
    if tokenizer is not None:
        ids = tokenizer.encode(trace, add_special_tokens=False)
        return tokenizer.decode(ids[: round(fraction * len(ids))])
    words = re.findall(r"\S+\s*", trace)
    return "".join(words[: round(fraction * len(words))]).rstrip()
