"""The shipped diagnostics as registry entries (:mod:`cotdiag.diagnostics.registry`), in run order:
offline prompt-vs-CoT metrics, the CoT faithfulness battery, the conflicting-trace test, attention
and gradient mass, online episodes. Each entry only wires its module's ``run_*``/``summarize_*``
functions, its report section and its plots; the definitions live in those modules.
"""

from __future__ import annotations

from typing import Any

from cotdiag.diagnostics import conflicting, faithfulness, offline, online, plots, report
from cotdiag.diagnostics.diagnostic import Diagnostic, LeaderboardColumn, StageInputs


def _n_offline(inp: StageInputs) -> int:
    """States the offline stage decodes: enough for the offline metrics and the conflicting test."""
    return min(len(inp.states), max(inp.config.offline_states, inp.config.conflict_states))


def _plan_offline(inp: StageInputs) -> int:
    """Model calls of the offline stage: two decodes, two expert scores, and with scoring one score per
    admissible action in each mode."""
    n = _n_offline(inp)
    scored = 0
    if inp.config.action_selection == "score":
        scored = 2 * sum(len(s.get("admissible_actions") or []) for s in list(inp.states)[:n])
    return n * (4 if _logprobs(inp) else 2) + scored


def _logprobs(inp: StageInputs) -> bool:
    return bool(inp.config.with_logprobs and inp.model.score is not None)


def _run_offline(inp: StageInputs) -> tuple[Any, Any]:
    cfg = inp.config
    recs = offline.run_offline(inp.model, list(inp.states)[: _n_offline(inp)], normalize=inp.normalize,
                               with_logprobs=_logprobs(inp), action_selection=cfg.action_selection)
    return offline.summarize_offline(recs[: cfg.offline_states], seed=cfg.seed), recs


def _own_cots(inp: StageInputs) -> list[dict[str, Any]]:
    return list(inp.records.get("offline") or [])[: inp.config.offline_states]


def _run_faithfulness(inp: StageInputs) -> tuple[Any, Any]:
    cfg, off = inp.config, _own_cots(inp)
    return faithfulness.run_faithfulness(
        inp.model, list(inp.states)[: len(off)], off, cfg.faithfulness_tests, fractions=cfg.fractions,
        env_id=inp.env_id, normalize=inp.normalize, seed=cfg.seed)


def _run_conflicting(inp: StageInputs) -> tuple[Any, Any]:
    cfg = inp.config
    cst = list(inp.states)[: cfg.conflict_states]
    srcs: dict[str, conflicting.TraceSource] = {}
    if "swap" in cfg.sources:
        srcs["swap"] = conflicting.swap_source(list(inp.states), inp.normalize)
    if "templated" in cfg.sources:
        srcs["templated"] = conflicting.templated_source(inp.env_id, inp.normalize)
    prompt_acts = [offline.generated_action(r, "prompt") for r in (inp.records.get("offline") or [])[: len(cst)]]
    crecs = conflicting.run_conflicting(inp.model, cst, srcs, fractions=cfg.fractions,
                                        prompt_acts=prompt_acts or None, normalize=inp.normalize, seed=cfg.seed)
    return conflicting.summarize_conflicting(crecs), crecs


def _run_attribution(inp: StageInputs) -> tuple[Any, Any]:
    from cotdiag.diagnostics.attribution import attribution_summary

    cfg, pol = inp.config, inp.policy
    return attribution_summary(
        pol.model, pol.tokenizer, list(inp.states)[: cfg.attribution_examples], top_k_percent=cfg.top_k_percent,
        seed=cfg.seed, use_chat_template=getattr(pol, "use_chat_template", None),
        max_prompt_tokens=getattr(pol, "max_prompt_tokens", None), progress=inp.tick), None


def _run_online(inp: StageInputs) -> tuple[Any, Any]:
    cfg = inp.config
    recs = online.run_online(inp.make_env, inp.policy, episodes=cfg.online_episodes, seed=cfg.seed,
                             task_ids=inp.online_task_ids, progress=lambda _d, _t: inp.tick(1))
    return online.summarize_online(recs, seed=cfg.seed), recs


def _modes() -> int:
    from cotdiag.response import DECODING_MODES

    return len(DECODING_MODES)


BUILTIN: tuple[Diagnostic, ...] = (
    Diagnostic(
        "offline", _run_offline, planned=_plan_offline,
        markdown=report.offline_md,
        plots=(("quality_over_checkpoints.png", plots.plot_quality),
               ("advantage_consistency.png", plots.plot_advantage_consistency)),
        doc="prompt and CoT action quality, CoT advantage, consistency, log p(a*) (docs/concepts.md)"),
    Diagnostic(
        "faithfulness", _run_faithfulness, enabled=lambda i: bool(i.config.faithfulness_tests and _own_cots(i)),
        markdown=report.faithfulness_md, plots=(("faithfulness.png", plots.plot_faithfulness),),
        columns=(LeaderboardColumn("early/aoc", "cot_reliance_aoc", "CoT reliance (AOC)", "cot_reliance_ci95",
                                   "CoT reliance 95% CI"),),
        doc="the CoT faithfulness battery (docs/faithfulness.md)"),
    Diagnostic(
        "conflicting", _run_conflicting, enabled=lambda i: bool(i.config.conflict_states and i.config.sources),
        planned=lambda i: min(len(i.states), i.config.conflict_states) * len(i.config.sources) * len(i.config.fractions),
        markdown=report.conflicting_md, plots=(("revision_vs_truncation.png", plots.plot_revision),),
        doc="revision / anchored / other rates per truncation fraction of a conflicting trace"),
    Diagnostic(
        "attribution", _run_attribution,
        enabled=lambda i: bool(i.config.attribution_examples and getattr(i.policy, "model", None) is not None),
        planned=lambda i: min(len(i.states), i.config.attribution_examples),
        markdown=report.attribution_md, plots=(("prompt_share_per_layer.png", plots.plot_layers),),
        doc="attention and gradient mass of the action on the prompt vs the CoT"),
    Diagnostic(
        "online", _run_online, enabled=lambda i: bool(i.config.online_episodes and i.make_env is not None),
        planned=lambda i: i.config.online_episodes * _modes(), markdown=report.online_md,
        doc="episodes in each decoding mode on the same task ids and seeds"),
)
