"""The shipped trace sources: templated rationales per env, and real traces swapped between states."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from cotdiag.traces.context import TraceContext, TraceSource
from cotdiag.traces.templates import GenericTraces, templates_for


class TemplateTraceSource:
    """The templated source of one env (:func:`~cotdiag.traces.templates.templates_for`: registered,
    else declared by the env class), falling back to generic traces where it proposes none.

    Args:
        env_id: the registered id (``env.spec.id``); ``None`` uses :class:`GenericTraces`.
        family: the family to use instead of the env's (e.g.
            :class:`~cotdiag.traces.search_plan.ALFWorldSearchPlanTraces`).
    """

    def __init__(self, env_id: str | None = None, family: TraceSource | None = None) -> None:
        self.env_id = env_id
        self.family: TraceSource = family if family is not None else templates_for(env_id)
        self._generic = GenericTraces()

    def __call__(self, ctx: TraceContext, action: str, rng: np.random.Generator) -> str | None:
        trace = self.family(ctx, action, rng)
        return trace if trace is not None else self._generic(ctx, action, rng)

    def distractors(self, ctx: TraceContext, rng: np.random.Generator) -> list[str]:
        """The family's distractor proposals (empty when it has none)."""
        fn: Callable | None = getattr(self.family, "distractors", None)
        return list(fn(ctx, rng)) if fn is not None else []


class SwapTraceSource:
    """Real traces written for other states, looked up by the action they argued for.

    Args:
        pool: ``(action, trace)`` or ``(action, trace, state_key)`` items (e.g. from a CoT dataset);
            a trace whose ``state_key`` equals ``ctx.info.get("state_key")`` is never returned, so a
            state never receives its own trace.
    """

    def __init__(self, pool: Iterable[tuple[str, ...]]) -> None:
        self._by_action: dict[str, list[tuple[str, Any]]] = defaultdict(list)
        for item in pool:
            action, trace, *key = item
            self._by_action[action].append((trace, key[0] if key else None))

    def __call__(self, ctx: TraceContext, action: str, rng: np.random.Generator) -> str | None:
        own = ctx.info.get("state_key")
        options = [t for t, k in self._by_action.get(action, ()) if k is None or k != own]
        return options[int(rng.integers(len(options)))] if options else None

    def actions(self) -> list[str]:
        """The actions the pool has traces for."""
        return list(self._by_action)
