"""Offline prompt-vs-CoT metrics on held-out expert decision states.

Source: docs/concepts.md (arXiv 2606.26935), "Two decoding modes on the same decision state". For each state (prompt p,
expert action a*), the model gives a prompt action a_p and a CoT action a_c (see
:mod:`cotdiag.diagnostics.prefill`); this module scores them.

Example:
    >>> from cotdiag.diagnostics.offline import action_quality, consistency
    >>> action_quality(["go to desk 1", "look"], ["go to  desk 1", "open drawer 1"])["value"]
    0.5
    >>> consistency(["look", "look"], ["look", "inventory"])["value"]
    0.5
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

from cotdiag.agents.hf_cache import ACTION_SELECTIONS
from cotdiag.diagnostics.common import (
    Normalizer,
    mean_ci,
    normalize_whitespace,
    paired_difference,
    proportion,
)
from cotdiag.diagnostics.prefill import PrefillModel, cot_actions, cot_prefill, prompt_actions
from cotdiag.error import InvalidConfigError

logger = logging.getLogger(__name__)


def exact_matches(actions: Sequence[str], references: Sequence[str], normalize: Normalizer = normalize_whitespace) -> list[bool]:
    """Per-item ``normalize(action) == normalize(reference)`` (``list[bool]``).

    Raises:
        ValueError: lengths differ.
    """
    if len(actions) != len(references):
        raise InvalidConfigError(f"expected as many references as actions, got {len(references)} and {len(actions)}")
    return [normalize(a) == normalize(r) for a, r in zip(actions, references, strict=True)]


def action_quality(actions: Sequence[str], references: Sequence[str], normalize: Normalizer = normalize_whitespace) -> dict[str, Any]:
    """Quality of a decoding mode: fraction of states whose action equals the expert action.

    Definition: ``(1/n) Σ_i [norm(a_i) == norm(a*_i)]``; unit: fraction of states in [0, 1];
    95% Wilson interval. Source: docs/concepts.md (arXiv 2606.26935), "Two decoding modes" (quality = exact match after
    normalisation).
    """
    return proportion(exact_matches(actions, references, normalize))


def cot_advantage(cot_correct: Sequence[bool], prompt_correct: Sequence[bool], *, seed: int = 0) -> dict[str, Any]:
    """Offline CoT advantage: ``quality(a_c) − quality(a_p)`` on the same states.

    Definition: ``(1/n) Σ_i ([a_c,i correct] − [a_p,i correct])``; unit: fraction of states in
    [−1, 1]; 95% paired percentile-bootstrap interval over states
    (:func:`cotdiag.stats.paired_bootstrap_ci`). Source: docs/concepts.md (arXiv 2606.26935), "Two decoding modes" (CoT
    advantage, offline and per-state paired).
    """
    return paired_difference([float(c) for c in cot_correct], [float(p) for p in prompt_correct], seed=seed)


def consistency(prompt_acts: Sequence[str], cot_acts: Sequence[str], normalize: Normalizer = normalize_whitespace) -> dict[str, Any]:
    """Consistency: fraction of states where the prompt action equals the CoT action.

    Definition: ``(1/n) Σ_i [norm(a_p,i) == norm(a_c,i) != ""]``; unit: fraction in [0, 1];
    Wilson 95% interval. Two empty actions (no parseable action in either mode) do not count as
    agreeing. Source: docs/concepts.md (arXiv 2606.26935), "Two decoding modes" (consistency = fraction of states where
    a_p == a_c).
    """
    return proportion(consistent_flags(prompt_acts, cot_acts, normalize))


def consistent_flags(prompt_acts: Sequence[str], cot_acts: Sequence[str], normalize: Normalizer = normalize_whitespace) -> list[bool]:
    """Per-state ``norm(a_p) == norm(a_c)`` and non-empty (see :func:`consistency`)."""
    return [m and bool(normalize(a)) for m, a in zip(exact_matches(prompt_acts, cot_acts, normalize), prompt_acts, strict=True)]


def expert_logprobs(
    model: PrefillModel, prompts: Sequence[str], experts: Sequence[str], reasonings: Sequence[str] | None = None
) -> list[float]:
    """Log-probability of the expert action under a decoding mode (nats, summed over tokens).

    Definition: ``log P(a* + </action> | p + prefill)`` with prefill ``<action>`` (prompt mode, when
    ``reasonings`` is ``None``) or ``<think>{t}</think><action>`` with the model's own generated
    reasoning t (CoT mode). The closing tag is included so the probability is that of emitting
    exactly a* and stopping. Source: docs/concepts.md (arXiv 2606.26935), "Two decoding modes" (also report the model's
    log-probability of the reference action under each mode).

    Raises:
        ValueError: the model cannot score.
    """
    if model.score is None:
        raise InvalidConfigError("expected a model with score(), got score=None")
    fmt = model.fmt
    if reasonings is None:
        prefills = [fmt.action_open] * len(prompts)
    else:
        prefills = [cot_prefill(r, fmt) for r in reasonings]
    conts = [f"{a}{fmt.action_close}" for a in experts]
    return [float(x) for x in model.score(list(prompts), prefills, conts)]


def best_admissible(model: PrefillModel, prompts: Sequence[str], prefills: Sequence[str],
                    admissible: Sequence[Sequence[str]]) -> list[str | None]:
    """Per state, the admissible action with the highest summed log-probability (nats) of
    ``action + </action>`` after ``prompt + prefill`` (the first one on ties; ``None`` for a state
    without admissible actions). All candidates go to ``model.score`` in one call.

    Source: admissible-action scoring, ``action_selection="score"`` (docs/baselines.md), as the HF
    policy does online (:meth:`cotdiag.agents.hf.HFPolicy.act`).

    Raises:
        cotdiag.error.InvalidConfigError: the model cannot score.
    """
    if model.score is None:
        raise InvalidConfigError("expected a model with score() for action_selection='score', got score=None")
    flat = [(i, a) for i, acts in enumerate(admissible) for a in acts]
    best: dict[int, tuple[float, str]] = {}
    if flat:
        scores = model.score([prompts[i] for i, _ in flat], [prefills[i] for i, _ in flat],
                             [f"{a}{model.fmt.action_close}" for _, a in flat])
        for (i, a), sc in zip(flat, scores, strict=True):
            if i not in best or float(sc) > best[i][0]:
                best[i] = (float(sc), a)
    return [best[i][1] if i in best else None for i in range(len(prompts))]


def run_offline(
    model: PrefillModel,
    states: Sequence[Mapping[str, Any]],
    *,
    normalize: Normalizer = normalize_whitespace,
    with_logprobs: bool = True,
    prompt_mode_key: str = "prompt_for_prompt_mode",
    action_selection: str = "generate",
) -> list[dict[str, Any]]:
    """Decode every state in both modes and return per-state records.

    Args:
        model: the model (see :class:`~cotdiag.diagnostics.prefill.PrefillModel`).
        states: mappings with at least ``prompt`` and ``action`` (the expert action), e.g. rows of
            the dataset built by ``cotdiag build-data``; other keys (``task_id``, ``step``,
            ``task_type``) are copied into the records.
        normalize: the env's action normalization.
        with_logprobs: also score the expert action in each mode (needs ``model.score``).
        prompt_mode_key: the prompt action is decoded from ``state[prompt_mode_key]`` when present
            (the dataset's rendering of the same state with the prompt-mode instructions, i.e. what
            the prompt-mode decoding wrapper shows online), else from ``state["prompt"]``. Both
            renderings hold the same task, history and observation; only the instruction line
            differs.
        action_selection: ``"generate"`` (the generated action is the action) or ``"score"``: in
            each mode the action is the state's admissible action (``state["admissible_actions"]``)
            with the highest log-probability after the mode's prefix (prompt mode: after
            ``<action>``; CoT mode: after the generated reasoning and ``<action>``;
            :func:`best_admissible`); a state without admissible actions keeps the generated one.

    Returns:
        One dict per state: ``prompt_action``, ``cot_action``, ``cot_reasoning``, ``prompt_correct``,
        ``cot_correct``, ``consistent`` (bools), ``logp_prompt``, ``logp_cot`` (floats, nats, or
        ``None``), plus the copied metadata; with ``"score"`` also ``prompt_action_generated`` and
        ``cot_action_generated``.

    Raises:
        cotdiag.error.InvalidConfigError: an unknown ``action_selection``, or ``"score"`` with a model
            that cannot score.
    """
    if action_selection not in ACTION_SELECTIONS:
        raise InvalidConfigError(f"expected action_selection in {list(ACTION_SELECTIONS)}, got {action_selection!r}")
    prompts = [s["prompt"] for s in states]
    p_prompts = [s.get(prompt_mode_key) or s["prompt"] for s in states]
    experts = [s["action"] for s in states]
    a_p = prompt_actions(model, p_prompts)
    cot = cot_actions(model, prompts)
    reasonings = [r for r, _ in cot]
    a_c = [a for _, a in cot]
    generated = {"prompt_action_generated": list(a_p), "cot_action_generated": list(a_c)}
    if action_selection == "score":
        adm = [list(s.get("admissible_actions") or []) for s in states]
        fmt = model.fmt
        for acts, chosen in ((a_p, best_admissible(model, p_prompts, [fmt.action_open] * len(states), adm)),
                             (a_c, best_admissible(model, prompts, [cot_prefill(r, fmt) for r in reasonings], adm))):
            acts[:] = [c if c is not None else a for a, c in zip(acts, chosen, strict=True)]
    lp_p: list[float | None] = [None] * len(states)
    lp_c: list[float | None] = [None] * len(states)
    if with_logprobs and model.score is not None:
        lp_p = list(expert_logprobs(model, p_prompts, experts))
        lp_c = list(expert_logprobs(model, prompts, experts, reasonings))
    recs = []
    for i, s in enumerate(states):
        recs.append(
            {
                **{k: s[k] for k in ("task_id", "task_type", "step", "env") if k in s},
                "expert_action": experts[i],
                "prompt_action": a_p[i],
                "cot_action": a_c[i],
                "cot_reasoning": reasonings[i],
                "prompt_correct": normalize(a_p[i]) == normalize(experts[i]),
                "cot_correct": normalize(a_c[i]) == normalize(experts[i]),
                "consistent": bool(normalize(a_p[i])) and normalize(a_p[i]) == normalize(a_c[i]),
                "logp_prompt": lp_p[i],
                "logp_cot": lp_c[i],
                **({k: v[i] for k, v in generated.items()} if action_selection == "score" else {}),
            }
        )
    return recs


def generated_action(record: Mapping[str, Any], mode: str) -> str:
    """The action a :func:`run_offline` record's model generated in ``mode`` (``"prompt"`` or ``"cot"``):
    ``{mode}_action_generated`` under scoring, else ``{mode}_action``. The interventions of the other
    stages decode freely, so they compare against this one."""
    return record.get(f"{mode}_action_generated", record[f"{mode}_action"])


def summarize_offline(records: Sequence[Mapping[str, Any]], *, seed: int = 0) -> dict[str, Any]:
    """Aggregate :func:`run_offline` records into number records (value, n, 95% CI).

    Keys: ``offline/prompt_quality``, ``offline/cot_quality`` (fractions, Wilson CI),
    ``offline/cot_advantage`` (fraction difference, paired bootstrap CI),
    ``offline/consistency`` (fraction, Wilson CI), ``offline/logp_expert_prompt_nats``,
    ``offline/logp_expert_cot_nats`` (mean summed log-prob, bootstrap CI) and
    ``offline/logp_expert_cot_minus_prompt_nats`` (paired); log-prob keys only when scored.
    """
    pc = [bool(r["prompt_correct"]) for r in records]
    cc = [bool(r["cot_correct"]) for r in records]
    out: dict[str, Any] = {
        "offline/prompt_quality": proportion(pc),
        "offline/cot_quality": proportion(cc),
        "offline/cot_advantage": cot_advantage(cc, pc, seed=seed),
        "offline/consistency": proportion([bool(r["consistent"]) for r in records]),
    }
    scored = [r for r in records if r.get("logp_prompt") is not None and r.get("logp_cot") is not None]
    scored = [r for r in scored if math.isfinite(r["logp_prompt"]) and math.isfinite(r["logp_cot"])]
    if scored:
        lp = [r["logp_prompt"] for r in scored]
        lc = [r["logp_cot"] for r in scored]
        out["offline/logp_expert_prompt_nats"] = mean_ci(lp, seed=seed)
        out["offline/logp_expert_cot_nats"] = mean_ci(lc, seed=seed)
        out["offline/logp_expert_cot_minus_prompt_nats"] = paired_difference(lc, lp, seed=seed)
    return out
