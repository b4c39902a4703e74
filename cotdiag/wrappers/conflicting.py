"""``ConflictingTraceWrapper``: prefill the response with a trace that argues for a wrong action.

The study's conflicting-trace test (docs/concepts.md, arXiv 2606.26935): for state ``p1`` with expert action ``a1``, take a
trace ``t2`` written for a different action ``a2``, truncate it, and feed
``p1 + truncated(t2) + <action>``; then count how often the policy's action is ``a1``
(prompt-anchored), ``a2`` (trace-following) or other.
"""

from __future__ import annotations

import logging
from typing import Any

import gymnasium as gym
import numpy as np

from cotdiag.error import InvalidConfigError, InvalidTypeError
from cotdiag.traces import (
    TRUNCATION_UNITS,
    TemplateTraceSource,
    TraceContext,
    TraceSource,
    candidate_actions,
    truncate,
)

logger = logging.getLogger(__name__)


class ConflictingTraceWrapper(gym.Wrapper[str, str, str, str], gym.utils.RecordConstructorArgs):
    """Inject a truncated conflicting trace as the start of the response.

    Wraps a :class:`~cotdiag.wrappers.decoding.DecodingModeWrapper` in ``mode="cot"``. On an
    injected state, ``info["prefill"]`` becomes ``<think>{truncated t2}</think><action>``; the policy
    completes only ``ACTION</action>``, and the wrapper hands ``prefill + completion`` to the decoding
    wrapper, which parses it as a whole CoT response.

    Args:
        env: a ``DecodingModeWrapper(..., mode="cot")`` (or a stack above one).
        source: a :class:`~cotdiag.traces.TraceSource`, or ``"template"`` (default: the
            templated source of ``env.spec.id``).
        fraction: probability that a state with a known expert action is injected (default 1.0:
            every such state); drawn from the wrapper's generator, seeded by ``reset(seed=...)``.
        truncation: fraction of the trace kept, in ``[0, 1]`` (the study sweeps 0, .25, .5, .75, 1).
        unit: ``"chars"`` or ``"tokens"`` (see :func:`~cotdiag.traces.truncate`).
        tokenizer: optional tokenizer for ``unit="tokens"``.
        seed: seeds the generator when ``reset`` gets no seed.

    Distractor choice:
        ``a2`` is drawn uniformly from the admissible actions other than the expert action; where the
        env has none (BFCL), from the source's ``distractors(ctx, rng)``. Candidates are tried in the
        drawn order until the source returns a trace; if none works, the state is not injected.

    Info keys, describing the *returned* state: ``injected`` (bool), ``distractor_action``,
    ``trace`` (the injected, truncated trace), ``trace_full``, ``truncation`` (``None`` when not
    injected). Describing the step *just taken* (``None`` when that state was not injected):
    ``revised`` (the parsed action equals ``a2``: the agent followed the trace) and ``anchored`` (it
    equals the expert action ``a1``), the outcome names of the conflicting-trace diagnostic
    (:mod:`cotdiag.diagnostics.conflicting`; definitions in docs/concepts.md).

    Raises:
        ValueError: the inner decoding mode is not ``"cot"``, or ``fraction``, ``truncation`` or
            ``unit`` out of range.
        TypeError: ``source`` is neither ``"template"`` nor callable.
    """

    def __init__(
        self,
        env: gym.Env[str, str],
        source: TraceSource | str = "template",
        *,
        fraction: float = 1.0,
        truncation: float = 1.0,
        unit: str = "chars",
        tokenizer: Any = None,
        seed: int | None = None,
    ) -> None:
        gym.utils.RecordConstructorArgs.__init__(
            self, source=source, fraction=fraction, truncation=truncation, unit=unit, tokenizer=tokenizer, seed=seed
        )
        gym.Wrapper.__init__(self, env)
        mode = env.get_wrapper_attr("mode")
        if mode != "cot":
            raise InvalidConfigError(f"expected the inner DecodingModeWrapper in mode 'cot', got {mode!r}")
        if not 0.0 <= fraction <= 1.0:
            raise InvalidConfigError(f"expected fraction in [0, 1], got {fraction!r}")
        if not 0.0 <= truncation <= 1.0:
            raise InvalidConfigError(f"expected truncation in [0, 1], got {truncation!r}")
        if unit not in TRUNCATION_UNITS:
            raise InvalidConfigError(f"expected unit in {list(TRUNCATION_UNITS)}, got {unit!r}")
        if source == "template":
            source = TemplateTraceSource(env.spec.id if env.spec is not None else None)
        elif not callable(source):
            raise InvalidTypeError(f"expected source to be 'template' or a callable TraceSource, got {source!r}")
        self.source = source
        self.fraction, self.truncation, self.unit, self.tokenizer = fraction, truncation, unit, tokenizer
        self.fmt = env.get_wrapper_attr("fmt")
        self._rng = np.random.default_rng(seed)
        self._past: list[str] = []
        self._pending: dict[str, Any] = {}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        """Reset; ``seed`` (when given) also re-seeds the injection generator."""
        if seed is not None:
            self._rng = np.random.default_rng([seed, 0xC07])
        obs, info = self.env.reset(seed=seed, options=options)
        self._past = []
        return obs, self._inject(dict(info), previous=None)

    def step(self, completion: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        """Prepend the injected prefill (if any) to ``completion`` and step the decoding wrapper."""
        pending = self._pending
        prefix = pending["prefix"] if pending.get("injected") else ""
        obs, reward, terminated, truncated, info = self.env.step(prefix + completion)
        info = dict(info)
        if info.get("action"):
            self._past.append(info["action"])
        return obs, reward, terminated, truncated, self._inject(info, previous=pending, raw=completion)

    def _inject(self, info: dict[str, Any], previous: dict[str, Any] | None, raw: str | None = None) -> dict[str, Any]:
        if previous and previous.get("injected"):
            action = info.get("action")
            info["revised"] = action == previous["distractor"]
            info["anchored"] = action == previous["expert"]
            info["completion"] = raw
        else:
            info["revised"] = info["anchored"] = None
        expert = info.get("expert_action")
        self._pending = {"injected": False}
        chosen = None
        if expert is not None and self._rng.random() < self.fraction:
            ctx = TraceContext.from_info(info, past_actions=self._past)
            chosen = self._choose(ctx)
        if chosen is None:
            info.update(injected=False, distractor_action=None, trace=None, trace_full=None, truncation=None)
            return info
        distractor, full = chosen
        cut = truncate(full, self.truncation, self.unit, self.tokenizer)
        prefix = f"{self.fmt.think_open}{cut}{self.fmt.think_close}{self.fmt.action_open}"
        self._pending = {"injected": True, "prefix": prefix, "distractor": distractor, "expert": expert}
        info.update(injected=True, distractor_action=distractor, trace=cut, trace_full=full,
                    truncation=self.truncation, prefill=prefix)
        return info

    def _choose(self, ctx: TraceContext) -> tuple[str, str] | None:
        candidates = [a for a in candidate_actions(self.source, ctx, self._rng) if a != ctx.expert_action]
        for i in self._rng.permutation(len(candidates)):
            trace = self.source(ctx, candidates[int(i)], self._rng)
            if trace is not None:
                return candidates[int(i)], trace
        logger.debug("no conflicting trace for task %s", ctx.task)
        return None
