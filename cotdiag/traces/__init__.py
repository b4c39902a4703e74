"""Trace sources: reasoning traces that argue for a given action in a given state.

A *trace source* is any callable ``source(ctx, action, rng) -> str | None`` (:class:`TraceSource`):
``ctx`` describes the decision state (:class:`TraceContext`), ``action`` is the action the trace must
argue for, ``rng`` a ``numpy.random.Generator`` for any random choice; ``None`` means the source
cannot argue for that action (the caller then tries another action or skips the state). A source may
also offer ``distractors(ctx, rng) -> list[str]``: candidate wrong actions where the env has no
admissible list (BFCL).

Shipped sources:

* :class:`TemplateTraceSource`: templated rationales per environment family (ALFWorld, ScienceWorld,
  BFCL, and a generic one), each declared by its env class (``TextEnv.reasoning_templates =
  "module:Name"``) and found by :func:`templates_for`; :func:`register_templates` overrides it. The dataset builder uses the same templates to write CoT for expert
  actions, so they reason from the goal and the state rather than restate the action.
* :class:`SwapTraceSource`: real traces written for other states, looked up by their action.
* any user callable (for example an LLM prompted to argue for ``action``).

:func:`truncate` keeps a fraction of a trace's characters or tokens.

Modules: :mod:`.context` (the state, the protocol, truncation), :mod:`.templates` (per-env
families), :mod:`.sources` (the shipped sources).
"""

from __future__ import annotations

from cotdiag.traces.context import (
    TRUNCATION_UNITS,
    TraceContext,
    TraceSource,
    candidate_actions,
    truncate,
)
from cotdiag.traces.sources import SwapTraceSource, TemplateTraceSource
from cotdiag.traces.templates import (
    TEMPLATES,
    ALFWorldTraces,
    BFCLTraces,
    GenericTraces,
    ScienceWorldTraces,
    register_templates,
    templates_for,
)

__all__ = [
    "TEMPLATES",
    "TRUNCATION_UNITS",
    "ALFWorldTraces",
    "BFCLTraces",
    "GenericTraces",
    "ScienceWorldTraces",
    "SwapTraceSource",
    "TemplateTraceSource",
    "TraceContext",
    "TraceSource",
    "candidate_actions",
    "register_templates",
    "templates_for",
    "truncate",
]
