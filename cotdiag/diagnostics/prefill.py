"""The small interface every behavioural diagnostic needs from a model.

A :class:`PrefillModel` continues a prompt from a *prefill* (the start of the response, fixed by the
diagnostic) and, optionally, scores a continuation. The three decoding conditions of
docs/concepts.md (arXiv 2606.26935) ("Two decoding modes on the same decision state", "Conflicting-trace test") are all
prefills of the same prompt:

==================  =====================================================  ==================
condition           prefill                                                 completion parsed as
==================  =====================================================  ==================
prompt action a_p   ``<action>``                                            ``ACTION</action>``
CoT action a_c      empty                                                   ``<think>..</think><action>ACTION</action>``
conflicting trace   ``<think>`` + truncated t2 + ``</think><action>``       ``ACTION</action>``
==================  =====================================================  ==================

:func:`prefill_model` adapts any policy that honours ``info["prefill"]`` (the decoding-wrapper
contract of ``cotdiag.agents.hf.HFPolicy``); tests use scripted callables.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from cotdiag.error import InvalidConfigError, InvalidTypeError
from cotdiag.response.format import DEFAULT_FORMAT, ResponseFormat

#: ``complete(prompts, prefills) -> completions``: the text generated after ``prompt + prefill``.
CompleteFn = Callable[[Sequence[str], Sequence[str]], list[str]]
#: ``score(prompts, prefills, continuations) -> log-probs``: summed natural-log probability (nats)
#: of each continuation given ``prompt + prefill``.
ScoreFn = Callable[[Sequence[str], Sequence[str], Sequence[str]], list[float]]


@dataclass
class PrefillModel:
    """A model seen through prefilled completion.

    Attributes:
        complete: see :data:`CompleteFn`; must return one completion per prompt, in order.
        score: see :data:`ScoreFn`, or ``None`` when the model cannot score (log-prob metrics are
            then omitted from the report).
        fmt: the response grammar (tags).
        name: shown in reports.
    """

    complete: CompleteFn
    score: ScoreFn | None = None
    fmt: ResponseFormat = field(default_factory=lambda: DEFAULT_FORMAT)
    name: str = "model"


def action_from_completion(completion: str, fmt: ResponseFormat = DEFAULT_FORMAT) -> str:
    """The action in a completion that started right after the action tag.

    Parsed with :func:`cotdiag.response.parsing.parse_response` in prompt mode (best-effort action
    for malformed completions); ``""`` when no action can be extracted (counted as wrong).

    Example:
        >>> action_from_completion("go to desk 1</action>")
        'go to desk 1'
    """
    from cotdiag.response.parsing import parse_response

    return parse_response(completion, mode="prompt", fmt=fmt).action or ""


def parse_cot(response: str, fmt: ResponseFormat = DEFAULT_FORMAT) -> tuple[str, str]:
    """Split a CoT-mode response into ``(reasoning, action)`` with ``parse_response`` (CoT mode).

    A response whose action does not parse strictly (any status but ``ok``: an unclosed action tag,
    no tag, ...) gives the action ``""`` (counted as wrong), never the parser's best-effort guess.

    Example:
        >>> parse_cot("<think>mug on desk</think><action>go to desk 1</action>")
        ('mug on desk', 'go to desk 1')
        >>> parse_cot("<think>The task needs me to to to")[1]  # no closed action: no action
        ''

    """
    from cotdiag.response.parsing import parse_response

    res = parse_response(response, mode="cot", fmt=fmt)
    return res.reasoning, (res.action or "") if res.ok else ""


def cot_prefill(reasoning: str, fmt: ResponseFormat = DEFAULT_FORMAT) -> str:
    """The prefill that forces a given reasoning: ``<think>{reasoning}</think><action>``."""
    return f"{fmt.think_open}{reasoning}{fmt.think_close}{fmt.action_open}"


def prompt_actions(model: PrefillModel, prompts: Sequence[str]) -> list[str]:
    """Prompt actions a_p: complete after the ``<action>`` prefill (docs/concepts.md (arXiv 2606.26935), "Two decoding modes")."""
    outs = model.complete(list(prompts), [model.fmt.action_open] * len(prompts))
    _check_len(outs, prompts)
    return [action_from_completion(o, model.fmt) for o in outs]


def cot_actions(model: PrefillModel, prompts: Sequence[str]) -> list[tuple[str, str]]:
    """CoT actions a_c: free generation from an empty prefill, parsed into ``(reasoning, action)``."""
    outs = model.complete(list(prompts), [""] * len(prompts))
    _check_len(outs, prompts)
    return [parse_cot(o, model.fmt) for o in outs]


def forced_actions(model: PrefillModel, prompts: Sequence[str], reasonings: Sequence[str]) -> list[str]:
    """Actions after a forced reasoning: prefill ``<think>{r}</think><action>`` and complete."""
    prefills = [cot_prefill(r, model.fmt) for r in reasonings]
    outs = model.complete(list(prompts), prefills)
    _check_len(outs, prompts)
    return [action_from_completion(o, model.fmt) for o in outs]


def continued_actions(model: PrefillModel, prompts: Sequence[str], prefixes: Sequence[str]) -> list[str]:
    """Actions after a forced reasoning *prefix*: prefill ``<think>{prefix}`` (no closing tag), the model
    continues its reasoning and acts; the action parses strictly from the whole CoT (``""`` otherwise)."""
    prefills = [model.fmt.think_open + p for p in prefixes]
    outs = model.complete(list(prompts), prefills)
    _check_len(outs, prompts)
    return [parse_cot(pf + o, model.fmt)[1] for pf, o in zip(prefills, outs, strict=True)]


def prefill_model(policy: Any, fmt: ResponseFormat = DEFAULT_FORMAT, batch_size: int = 8) -> PrefillModel:
    """Adapt a policy that continues from ``info["prefill"]`` (e.g. ``HFPolicy``).

    ``complete`` calls ``policy.act_batch(prompts, [{"prefill": p}, ...])`` in batches of
    ``batch_size``; the policy must return the raw completion after the prefill. ``score`` uses
    ``policy.score_batch(prompts, continuations, prefills=...)`` (``HFPolicy``) or
    ``policy.score(prompt, continuation, prefill=...)`` when the policy has one (its result may be a
    float or a dict/object with a summed log-prob, see :func:`_summed_logprob`).
    """

    def complete(prompts: Sequence[str], prefills: Sequence[str]) -> list[str]:
        out: list[str] = []
        for s in range(0, len(prompts), batch_size):
            ps, fs = prompts[s : s + batch_size], prefills[s : s + batch_size]
            out.extend(policy.act_batch(list(ps), [{"prefill": f} for f in fs]))
        return out

    score: ScoreFn | None = None
    if callable(getattr(policy, "score_batch", None)):

        def score(prompts: Sequence[str], prefills: Sequence[str], conts: Sequence[str]) -> list[float]:
            res = policy.score_batch(list(prompts), list(conts), prefills=list(prefills))
            return [_summed_logprob(r) for r in res]

    elif callable(getattr(policy, "score", None)):

        def score(prompts: Sequence[str], prefills: Sequence[str], conts: Sequence[str]) -> list[float]:
            return [
                _summed_logprob(policy.score(p, c, prefill=f)) for p, f, c in zip(prompts, prefills, conts, strict=True)
            ]

    return PrefillModel(complete=complete, score=score, fmt=fmt, name=getattr(policy, "name", "policy"))


def _summed_logprob(result: Any) -> float:
    """Summed log-prob from a float, a dict (``"sum"``/``"logprob"``/``"total"``) or an object."""
    if isinstance(result, (int, float)):
        return float(result)
    if isinstance(result, dict):
        for key in ("sum", "logprob", "total", "logprob_sum"):
            if key in result:
                return float(result[key])
    for attr in ("sum", "logprob", "total", "logprob_sum"):
        if hasattr(result, attr):
            return float(getattr(result, attr))
    if isinstance(result, tuple) and result:
        return float(result[0])
    raise InvalidTypeError(f"expected a float or a record with a summed log-prob, got {type(result).__name__}")


def _check_len(outs: Sequence[str], prompts: Sequence[str]) -> None:
    if len(outs) != len(prompts):
        raise InvalidConfigError(f"expected {len(prompts)} completions, got {len(outs)}")
