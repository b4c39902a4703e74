"""The conflicting-trace test: does a trace arguing for another action change the action?

Source: docs/concepts.md (arXiv 2606.26935), "Conflicting-trace test". For a state with prompt p1 and the model's own prompt
action a1, take a trace t2 written for a different action a2 != a1, keep its first fraction f,
feed ``p1 + <think>truncated(t2)</think><action>`` and let the model complete the action a. Each
output is one of:

* ``revised`` (trace-following): ``norm(a) == norm(a2)``;
* ``anchored`` (prompt-anchored): ``norm(a) == norm(a1)``;
* ``other``: neither.

The three rates sum to 1 at every fraction. A *trace source* supplies ``(a2, t2)`` for a state;
sources are reported separately (``swap``: a real trace of another state whose action differs;
``templated``: a rationale generated for a2 by the env's templated trace source).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from cotdiag.diagnostics.common import Normalizer, normalize_whitespace, proportion
from cotdiag.diagnostics.prefill import PrefillModel, forced_actions, prompt_actions
from cotdiag.error import InvalidConfigError

logger = logging.getLogger(__name__)

#: Truncation fractions of the study's sweep.
TRUNCATION_FRACTIONS: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)
OUTCOMES: tuple[str, ...] = ("revised", "anchored", "other")

#: ``source(index, state, a1, rng) -> (a2, t2) or None``; must return ``a2`` with
#: ``norm(a2) != norm(a1)``, or ``None`` when it has no conflicting trace for this state.
TraceSource = Callable[[int, Mapping[str, Any], str, random.Random], "tuple[str, str] | None"]


def truncate_trace(trace: str, fraction: float) -> str:
    """The first ``fraction`` of a trace, in whitespace-separated words.

    ``round(fraction * n_words)`` words are kept (0 -> empty, 1 -> the whole trace with its
    whitespace normalised to single spaces).

    Raises:
        ValueError: ``fraction`` outside [0, 1].
    """
    if not 0.0 <= fraction <= 1.0:
        raise InvalidConfigError(f"expected fraction in [0, 1], got {fraction}")
    words = trace.split()
    return " ".join(words[: int(round(fraction * len(words)))])


def classify(action: str, a1: str, a2: str, normalize: Normalizer = normalize_whitespace) -> str:
    """``"revised"`` if the action equals a2, else ``"anchored"`` if it equals a1, else ``"other"``.

    An empty action (no parseable action) is always ``"other"``, even when a1 is empty too.
    """
    a = normalize(action)
    if not a:
        return "other"
    if a == normalize(a2):
        return "revised"
    if a == normalize(a1):
        return "anchored"
    return "other"


def swap_source(states: Sequence[Mapping[str, Any]], normalize: Normalizer = normalize_whitespace) -> TraceSource:
    """Trace source that swaps in the real trace of another state whose action differs from a1.

    Candidates are the other states of ``states`` with a non-empty ``trace`` and
    ``norm(action) != norm(a1)``; states of the same task are preferred (their traces talk about
    the same room), otherwise any state. The choice is drawn with the test's seeded ``rng``.
    """

    def source(i: int, state: Mapping[str, Any], a1: str, rng: random.Random) -> tuple[str, str] | None:
        a1n = normalize(a1)
        cands = [j for j, s in enumerate(states) if j != i and s.get("trace") and normalize(s["action"]) != a1n]
        same = [j for j in cands if states[j].get("task_id") == state.get("task_id")]
        pool = same or cands
        if not pool:
            return None
        j = pool[rng.randrange(len(pool))]
        return states[j]["action"], states[j]["trace"]

    return source


def callable_source(
    write_trace: Callable[[Mapping[str, Any], str], str],
    candidates: Callable[[Mapping[str, Any]], Sequence[str]],
    normalize: Normalizer = normalize_whitespace,
) -> TraceSource:
    """Trace source from a trace writer: pick a2 among ``candidates(state)`` != a1, write t2 for it.

    Args:
        write_trace: ``write_trace(state, a2) -> t2``, e.g. a templated rationale or an LLM call.
        candidates: ``candidates(state) -> actions`` (e.g. the admissible actions of the state).
    """

    def source(i: int, state: Mapping[str, Any], a1: str, rng: random.Random) -> tuple[str, str] | None:
        a1n = normalize(a1)
        pool = sorted({c for c in candidates(state) if normalize(c) != a1n})
        if not pool:
            return None
        a2 = pool[rng.randrange(len(pool))]
        return a2, write_trace(state, a2)

    return source


def _parse_prompt(prompt: str) -> tuple[str, str]:
    """``(task, observation)`` from a prompt rendered by :func:`cotdiag.response.prompt.render_prompt`
    (or a conversation state: the task from its first user turn, the newest observation from its last)."""
    messages = getattr(prompt, "messages", None)
    if messages and len(messages) > 2:
        task, _ = _parse_prompt(messages[1]["content"])
        return task, messages[-1]["content"].split("\n\nAdmissible actions:", 1)[0]
    task = ""
    for line in prompt.splitlines():
        if line.startswith("Task: "):
            task = line[len("Task: "):]
            break
    obs = prompt.split("Current observation:\n", 1)[-1].split("\n\nAdmissible actions:", 1)[0]
    return task, obs


def templated_source(env_id: str | None, normalize: Normalizer = normalize_whitespace) -> TraceSource:
    """Trace source that writes a templated rationale for a distractor a2 (``cotdiag.traces``).

    a2 is drawn from the state's ``admissible_actions`` (dataset column) other than a1, in a seeded
    order, until :class:`cotdiag.traces.TemplateTraceSource` of ``env_id`` returns a trace.
    Where the state lists no admissible actions (BFCL), the candidates are the source's
    ``distractors`` of the expert action (the rule of
    :class:`cotdiag.wrappers.conflicting.ConflictingTraceWrapper`), a1 excluded. The trace context
    (task, current observation, past actions) is read from the state's rendered prompt (the layout
    of :func:`cotdiag.response.prompt.render_prompt`) and ``actions_before``. States with no
    candidate are skipped.
    """
    import numpy as np

    from cotdiag.traces import TemplateTraceSource, TraceContext, candidate_actions

    writer = TemplateTraceSource(env_id)

    def source(i: int, state: Mapping[str, Any], a1: str, rng: random.Random) -> tuple[str, str] | None:
        a1n = normalize(a1)
        task, obs = _parse_prompt(state["prompt"])
        ctx = TraceContext(
            task=task, task_type=str(state.get("task_type", "")), observation=obs,
            admissible_actions=list(state.get("admissible_actions") or []) or None,
            expert_action=state.get("action"), past_actions=tuple(state.get("actions_before") or ()),
        )
        nrng = np.random.default_rng(rng.randrange(2**32))
        pool = sorted({c for c in candidate_actions(writer, ctx, nrng) if normalize(c) != a1n})
        rng.shuffle(pool)
        for a2 in pool:
            trace = writer(ctx, a2, nrng)
            if trace:
                return a2, trace
        return None

    return source


def run_conflicting(
    model: PrefillModel,
    states: Sequence[Mapping[str, Any]],
    sources: Mapping[str, TraceSource],
    *,
    fractions: Sequence[float] = TRUNCATION_FRACTIONS,
    prompt_acts: Sequence[str] | None = None,
    normalize: Normalizer = normalize_whitespace,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Run the conflicting-trace test and return one record per (source, state, fraction).

    Args:
        model: the model.
        states: mappings with ``prompt`` (and whatever the sources read).
        sources: ``{name: TraceSource}``; each is reported separately.
        fractions: truncation fractions (see :func:`truncate_trace`).
        prompt_acts: the model's prompt actions a1 when already computed (else decoded here).
        normalize: the env's action normalization.
        seed: seeds the sources' choice of (a2, t2) (one ``random.Random(seed)`` per source).

    Returns:
        Records with ``source``, ``index``, ``fraction``, ``a1``, ``a2``, ``trace``, ``action``,
        ``outcome`` (one of :data:`OUTCOMES`). States a source has no trace for are skipped.
    """
    prompts = [s["prompt"] for s in states]
    a1s = list(prompt_acts) if prompt_acts is not None else prompt_actions(model, prompts)
    records: list[dict[str, Any]] = []
    for name, source in sources.items():
        rng = random.Random(seed)
        picks = []
        for i, s in enumerate(states):
            got = source(i, s, a1s[i], rng)
            if got is None:
                logger.debug("source %s has no conflicting trace for state %d", name, i)
                continue
            a2, t2 = got
            if normalize(a2) == normalize(a1s[i]):
                raise InvalidConfigError(f"trace source {name!r} returned a2 == a1 ({a2!r}) for state {i}")
            picks.append((i, a2, t2))
        for f in fractions:
            truncs = [truncate_trace(t2, f) for _, _, t2 in picks]
            outs = forced_actions(model, [prompts[i] for i, _, _ in picks], truncs) if picks else []
            for (i, a2, _), tr, out in zip(picks, truncs, outs, strict=True):
                records.append(
                    {
                        "source": name, "index": i, "fraction": float(f), "a1": a1s[i], "a2": a2,
                        "trace": tr, "action": out, "outcome": classify(out, a1s[i], a2, normalize),
                    }
                )
    return records


def summarize_conflicting(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Rates per source and truncation fraction, each with a Wilson 95% interval.

    Definitions (per source s and fraction f, over the n states with a conflicting trace):
    ``revision_rate = #{a == a2}/n`` (trace-following), ``anchored_rate = #{a == a1}/n``
    (prompt-anchored), ``other_rate = #{neither}/n``; unit: fraction of states; they sum to 1.
    Source: docs/concepts.md (arXiv 2606.26935), "Conflicting-trace test".

    Returns:
        ``{source: {fraction_str: {"revision_rate": rec, "anchored_rate": rec, "other_rate": rec}}}``
        with ``fraction_str`` like ``"0.25"``.
    """
    out: dict[str, Any] = {}
    for src in sorted({r["source"] for r in records}):
        per: dict[str, Any] = {}
        for f in sorted({r["fraction"] for r in records if r["source"] == src}):
            rs = [r for r in records if r["source"] == src and r["fraction"] == f]
            per[f"{f:g}"] = {
                "revision_rate": proportion([r["outcome"] == "revised" for r in rs]),
                "anchored_rate": proportion([r["outcome"] == "anchored" for r in rs]),
                "other_rate": proportion([r["outcome"] == "other" for r in rs]),
            }
        out[src] = per
    return out
