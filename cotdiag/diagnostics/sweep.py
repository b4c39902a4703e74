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

from cotdiag.agents.hf_cache import ACTION_SELECTIONS
from cotdiag.diagnostics.common import Normalizer, normalize_whitespace
from cotdiag.diagnostics.prefill import prefill_model
from cotdiag.diagnostics.stages import StageProgress, StageStore
from cotdiag.error import InvalidConfigError

logger = logging.getLogger(__name__)

_CKPT = re.compile(r"^checkpoint-(\d+)$")


@dataclass
class DiagnoseConfig:
    """What :func:`diagnose_policy` measures, and on how many items."""

    offline_states: int = field(default=50, metadata={"help": "Held-out expert states for the offline metrics (first N).",
                                                      "min": 1})
    conflict_states: int | None = field(default=None, metadata={
        "help": "States for the conflicting-trace test (first N; 0: skip; default: 30 or offline_states if fewer).",
        "min": 0})
    fractions: tuple[float, ...] = field(default=(0.0, 0.25, 0.5, 0.75, 1.0), metadata={
        "help": "Truncation fractions of the conflicting trace and of early answering, comma-separated."})
    sources: tuple[str, ...] = field(default=("swap", "templated"), metadata={
        "help": "Conflicting-trace sources, comma-separated: swap, templated."})
    attribution_examples: int | None = field(default=None, metadata={
        "help": "Examples for attention and gradient mass (0: skip; default: 20 or offline_states if fewer).", "min": 0})
    top_k_percent: float = field(default=10.0, metadata={"help": "K of the top-K% attended-positions share."})
    online_episodes: int = field(default=0, metadata={"help": "Online episodes per mode (0: skip the online test).",
                                                      "min": 0})
    with_logprobs: bool = field(default=True, metadata={"help": "Score the expert action in each mode."})
    action_selection: str = field(default="generate", metadata={
        "help": "Offline actions: 'generate' (the generated action) or 'score' (the admissible action with the "
                "highest log-probability after the mode's prefix; the other stages keep the generated ones).",
        "choices": list(ACTION_SELECTIONS)})
    seed: int = field(default=0, metadata={"help": "Seed of trace choice, bootstrap and the online plan."})
    faithfulness_tests: tuple[str, ...] = field(default=(), metadata={
        "help": "CoT faithfulness battery on the offline states (docs/faithfulness.md), comma-separated: early, "
                "mistake, paraphrase, filler, hint, or all; default none. Early answering uses the fractions."})

    def __post_init__(self) -> None:
        if self.conflict_states is None:
            self.conflict_states = min(30, int(self.offline_states))
        if self.attribution_examples is None:
            self.attribution_examples = min(20, int(self.offline_states))
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
        if self.action_selection not in ACTION_SELECTIONS:
            raise InvalidConfigError(f"expected action_selection in {list(ACTION_SELECTIONS)}, got {self.action_selection!r}")
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
    options: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Every registered diagnostic (:func:`cotdiag.diagnostics.registry.registered`) on one policy,
    one stage each, in registry order.

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
        options: options by diagnostic name, replacing that diagnostic's default ``options``.

    Returns:
        ``{<diagnostic name>: summary, ..., "timing_s": {...}, "records": {...}, "resumed": [stage, ...]}``:
        summaries of number records (see each module), the per-item records, and the stages read
        back from ``store``.
    """
    from cotdiag.diagnostics.registry import StageInputs, registered

    say = progress or (lambda _s: None)
    model = prefill_model(policy)
    res: dict[str, Any] = {"records": {}, "timing_s": {}, "resumed": []}
    inp = StageInputs(policy=policy, model=model, states=list(states), config=config, env_id=env_id,
                      normalize=normalize, make_env=make_env, online_task_ids=online_task_ids)
    for d in registered():
        inp.options = (options or {}).get(d.name, d.options)
        inp.model = model
        if not d.enabled(inp):
            continue
        hit = store.get(model_name, d.name) if store is not None else None
        if hit is None:
            planned = d.planned(inp)
            prog = StageProgress(d.name, planned, say)
            say(f"{d.name}: " + (f"{planned} model calls planned" if planned else "started"))
            inp.model, inp.tick = prog.wrap(model), prog.add
            summary, records = d.run(inp)
            hit = {"summary": summary, "records": records, "timing_s": time.perf_counter() - prog.t0}
            if store is not None:
                store.put(model_name, d.name, hit)
            say(prog.line() + " · done")
        else:
            res["resumed"].append(d.name)
            say(f"{d.name}: resumed from {store.path(model_name, d.name)}")  # type: ignore[union-attr]
        res[d.name], res["timing_s"][d.name] = hit["summary"], hit["timing_s"]
        if hit["records"] is not None:
            res["records"][d.name] = inp.records[d.name] = hit["records"]
    if "offline" in res["records"]:  # the report keeps the offline metrics' own states
        res["records"]["offline"] = res["records"]["offline"][: config.offline_states]
    return res


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
