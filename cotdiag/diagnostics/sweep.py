"""Run every diagnostic on one model, and on each checkpoint of a training run in order.

:func:`diagnose_policy` runs, on one policy: offline prompt-vs-CoT metrics
(:mod:`~cotdiag.diagnostics.offline`), the selected CoT faithfulness battery tests on the same
states (:mod:`~cotdiag.diagnostics.faithfulness`), the conflicting-trace test
(:mod:`~cotdiag.diagnostics.conflicting`), attention and gradient mass
(:mod:`~cotdiag.diagnostics.attribution`) and, when an env factory is given, online episodes
(:mod:`~cotdiag.diagnostics.online`). :func:`sweep` repeats it over the checkpoints found by
:func:`list_checkpoints`.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cotdiag.diagnostics.backend import policy_backend
from cotdiag.diagnostics.common import Normalizer, normalize_whitespace
from cotdiag.diagnostics.stages import StageProgress, StageStore
from cotdiag.error import InvalidConfigError

logger = logging.getLogger(__name__)

_CKPT = re.compile(r"^checkpoint-(\d+)$")


@dataclass
class DiagnoseConfig:
    """What :func:`diagnose_policy` measures, and on how many items."""

    offline_states: int = field(default=50, metadata={"help": "Held-out expert states for the offline metrics (first N)."})
    conflict_states: int = field(default=30, metadata={"help": "States for the conflicting-trace test (first N)."})
    fractions: tuple[float, ...] = field(default=(0.0, 0.25, 0.5, 0.75, 1.0), metadata={"help": "Truncation fractions of the conflicting trace and of early answering."})
    sources: tuple[str, ...] = field(default=("swap", "templated"), metadata={"help": "Conflicting-trace sources: swap, templated."})
    attribution_examples: int = field(default=20, metadata={"help": "Examples for attention and gradient mass."})
    top_k_percent: float = field(default=10.0, metadata={"help": "K of the top-K% attended-positions share."})
    online_episodes: int = field(default=0, metadata={"help": "Online episodes per mode (0: skip the online test)."})
    with_logprobs: bool = field(default=True, metadata={"help": "Score the expert action in each mode."})
    seed: int = field(default=0, metadata={"help": "Seed of trace choice, bootstrap and the online plan."})
    faithfulness_tests: tuple[str, ...] = field(default=(), metadata={
        "help": "Faithfulness battery tests on the offline states: early, mistake, paraphrase, filler, hint."})

    def __post_init__(self) -> None:
        for name in ("offline_states", "conflict_states", "attribution_examples", "online_episodes"):
            if int(getattr(self, name)) < 0:
                raise InvalidConfigError(f"expected {name} >= 0, got {getattr(self, name)!r}")
        bad = [s for s in self.sources if s not in ("swap", "templated")]
        if bad:
            raise InvalidConfigError(f"expected sources in ['swap', 'templated'], got {bad}")
        from cotdiag.diagnostics.faithfulness import parse_tests

        self.faithfulness_tests = parse_tests(self.faithfulness_tests)
        if "early" in self.faithfulness_tests and len(set(self.fractions)) < 2:
            raise InvalidConfigError(f"expected at least two distinct fractions for early answering, got {list(self.fractions)}")
        if not 0 < self.top_k_percent <= 100:
            raise InvalidConfigError(f"expected 0 < top_k_percent <= 100, got {self.top_k_percent}")


def list_checkpoints(run_dir: str | Path) -> list[tuple[int, Path]]:
    """``[(N, path), ...]`` of the ``checkpoint-N`` folders of ``run_dir``, sorted by N (training order).

    Raises:
        cotdiag.error.DataNotFoundError: ``run_dir`` has no ``checkpoint-N`` folder.
    """
    from cotdiag.error import DataNotFoundError

    root = Path(run_dir)
    found = sorted(
        (int(m.group(1)), p) for p in (root.iterdir() if root.is_dir() else []) if p.is_dir() and (m := _CKPT.match(p.name))
    )
    if not found:
        raise DataNotFoundError(f"expected checkpoint-N folders in {root}, found none")
    return found


def diagnose_policy(
    policy: Any,
    states: Sequence[Mapping[str, Any]],
    config: DiagnoseConfig,
    *,
    env_id: str | None = None,
    make_env: Callable[[str], Any] | None = None,
    online_task_ids: Sequence[str] | None = None,
    normalize: Normalizer = normalize_whitespace,
    progress: Callable[[str], None] | None = None,
    store: StageStore | None = None,
    model_name: str = "model",
) -> dict[str, Any]:
    """All diagnostics for one policy, stage by stage.

    Args:
        policy: an ``HFPolicy``-like object: ``act_batch`` honouring ``info["prefill"]``,
            optionally ``score_batch``; ``model`` and ``tokenizer`` attributes enable the attention
            and gradient analyses.
        states: held-out expert states (dataset rows: ``prompt``, ``trace``, ``action``, ...).
        config: what to measure.
        env_id: the env id (selects the templated trace source).
        make_env: ``make_env(mode) -> env`` for the online test (``None`` skips it).
        online_task_ids: tasks of the online plan (default: all tasks of the env's split).
        normalize: the env's action normalization.
        progress: called with one line when a stage starts, every 10 s inside it (model calls done
            of planned, elapsed, ETA) and when it ends.
        store: where each finished stage is written and, on a rerun, read back instead of run
            (see :class:`~cotdiag.diagnostics.stages.StageStore`); ``None`` keeps nothing.
        model_name: this policy's key in ``store``.

    Returns:
        ``{"offline": {...}, "faithfulness": {...}, "conflicting": {...}, "attribution": {...}, "online": {...},
        "timing_s": {...}, "records": {...}, "resumed": [stage, ...]}``: summaries of number records
        (see each module), the per-item records, and the stages read back from ``store``.
    """
    from cotdiag.diagnostics import conflicting, faithfulness, offline, online
    from cotdiag.response import DECODING_MODES

    say = progress or (lambda _s: None)
    backend = policy_backend(policy)
    res: dict[str, Any] = {"records": {}, "timing_s": {}, "resumed": []}

    def stage(name: str, planned: int | None, run: Callable[[StageProgress], tuple[Any, Any]]) -> Any:
        hit = store.get(model_name, name) if store is not None else None
        if hit is None:
            prog = StageProgress(name, planned, say)
            say(f"{name}: " + (f"{planned} model calls planned" if planned else "started"))
            summary, records = run(prog)
            hit = {"summary": summary, "records": records, "timing_s": time.perf_counter() - prog.t0}
            if store is not None:
                store.put(model_name, name, hit)
            say(prog.line() + " · done")
        else:
            res["resumed"].append(name)
            say(f"{name}: resumed from {store.path(model_name, name)}")  # type: ignore[union-attr]
        res[name], res["timing_s"][name] = hit["summary"], hit["timing_s"]
        if hit["records"] is not None:
            res["records"][name] = hit["records"]
        return hit["records"]

    n_needed = max(config.offline_states, config.conflict_states)
    sts = list(states)[:n_needed]
    logp = config.with_logprobs and backend.score is not None

    def run_off(prog: StageProgress) -> tuple[Any, Any]:
        recs = offline.run_offline(prog.wrap(backend), sts, normalize=normalize, with_logprobs=logp)
        return offline.summarize_offline(recs[: config.offline_states], seed=config.seed), recs

    recs = stage("offline", len(sts) * (4 if logp else 2), run_off)
    res["records"]["offline"] = off = recs[: config.offline_states]
    if config.faithfulness_tests and off:
        stage("faithfulness", None, lambda prog: faithfulness.run_faithfulness(
            prog.wrap(backend), sts[: len(off)], off, config.faithfulness_tests, fractions=config.fractions,
            env_id=env_id, normalize=normalize, seed=config.seed))
    if config.conflict_states and config.sources:
        cst = sts[: config.conflict_states]

        def run_conf(prog: StageProgress) -> tuple[Any, Any]:
            srcs: dict[str, conflicting.TraceSource] = {}
            if "swap" in config.sources:
                srcs["swap"] = conflicting.swap_source(list(states), normalize)
            if "templated" in config.sources:
                srcs["templated"] = conflicting.templated_source(env_id, normalize)
            crecs = conflicting.run_conflicting(
                prog.wrap(backend), cst, srcs, fractions=config.fractions,
                prompt_acts=[r["prompt_action"] for r in recs[: len(cst)]], normalize=normalize, seed=config.seed)
            return conflicting.summarize_conflicting(crecs), crecs

        stage("conflicting", len(cst) * len(config.sources) * len(config.fractions), run_conf)
    if config.attribution_examples and getattr(policy, "model", None) is not None:
        ex = list(states)[: config.attribution_examples]
        stage("attribution", len(ex), lambda prog: (attribution_summary(
            policy.model, policy.tokenizer, ex, top_k_percent=config.top_k_percent, seed=config.seed,
            use_chat_template=getattr(policy, "use_chat_template", None),
            max_prompt_tokens=getattr(policy, "max_prompt_tokens", None), progress=prog.add), None))
    if config.online_episodes and make_env is not None:

        def run_onl(prog: StageProgress) -> tuple[Any, Any]:
            orecs = online.run_online(make_env, policy, episodes=config.online_episodes, seed=config.seed,
                                      task_ids=online_task_ids, progress=lambda _d, _t: prog.add(1))
            return online.summarize_online(orecs, seed=config.seed), orecs

        stage("online", config.online_episodes * len(DECODING_MODES), run_onl)
    return res


def attribution_summary(
    model: Any,
    tokenizer: Any,
    states: Sequence[Mapping[str, Any]],
    *,
    top_k_percent: float = 10.0,
    seed: int = 0,
    use_chat_template: bool | None = None,
    max_prompt_tokens: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Attention and gradient mass over ``states`` (teacher-forced on the expert trace and action).

    Each state becomes ``build_model_text(tokenizer, prompt) + <think>trace</think><action>action``
    (the exact model input of ``HFPolicy`` in CoT mode, see :func:`cotdiag.response.build_model_text`),
    analysed by :func:`cotdiag.diagnostics.attribution.attribute`; results are averaged by
    :func:`cotdiag.diagnostics.attribution.summarize_attribution`. ``max_prompt_tokens``: the
    policy's prompt truncation (see :func:`cotdiag.diagnostics.attention.encode_example`).
    ``progress(1)`` is called after each example.
    """
    from cotdiag.diagnostics.attention import encode_example
    from cotdiag.diagnostics.attribution import attribute, summarize_attribution
    from cotdiag.response.prompt import build_model_text

    results = []
    for s in states:
        if not s.get("trace") or not s.get("action"):
            continue
        text = build_model_text(tokenizer, s["prompt"], "", use_chat_template=use_chat_template)
        ex = encode_example(tokenizer, text, s["trace"], s["action"], max_prompt_tokens=max_prompt_tokens)
        results.append(attribute(model, ex, top_k_percent=top_k_percent))
        if progress:
            progress(1)
    return summarize_attribution(results, seed=seed)


def sweep(
    checkpoints: Sequence[tuple[str, int | None, Any]],
    load_policy: Callable[[Any], Any],
    states: Sequence[Mapping[str, Any]],
    config: DiagnoseConfig,
    store: StageStore | None = None,
    **kwargs: Any,
) -> list[dict[str, Any]]:
    """:func:`diagnose_policy` on each checkpoint, in the given (training) order.

    Args:
        checkpoints: ``(name, step, path)`` triples (see :func:`list_checkpoints`); ``step`` may be
            ``None`` for a final model.
        load_policy: ``load_policy(path) -> policy``.
        states, config, kwargs: passed to :func:`diagnose_policy`.
        store: per-stage results on disk (see :class:`~cotdiag.diagnostics.stages.StageStore`): a
            rerun skips the finished stages of each checkpoint.

    Returns:
        ``[{"name", "step", "path", **diagnose_policy(...)}, ...]``.
    """
    out = []
    for i, (name, step, path) in enumerate(checkpoints):
        logger.info("diagnosing %s (%s)", name, path)
        policy = load_policy(path)
        res = diagnose_policy(policy, states, config, store=store, model_name=f"{i}_{name}", **kwargs)
        out.append({"name": name, "step": step, "path": str(path), **res})
        del policy
    return out


def config_dict(config: DiagnoseConfig) -> dict[str, Any]:
    """``config`` as a JSON-ready dict."""
    d = asdict(config)
    d["fractions"] = list(config.fractions)
    d["sources"] = list(config.sources)
    d["faithfulness_tests"] = list(config.faithfulness_tests)
    return d
