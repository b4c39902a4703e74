"""What one diagnostic is: the :class:`Diagnostic` record the registry holds
(:mod:`cotdiag.diagnostics.registry`), the :class:`StageInputs` its ``run`` receives, and the
:class:`LeaderboardColumn` it may offer the leaderboard."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class StageInputs:
    """What a diagnostic's ``run`` receives.

    Attributes:
        policy: the policy under test (``HFPolicy``-like; ``model``/``tokenizer`` when it has them).
        model: the policy seen through prefilled completion
            (:class:`~cotdiag.diagnostics.prefill.PrefillModel`), counting its calls for the progress line.
        states: the held-out expert states (dataset rows), shuffled.
        config: the run's :class:`~cotdiag.diagnostics.sweep.DiagnoseConfig`.
        options: this diagnostic's own options (its ``options`` default, or what the caller set).
        env_id: the env id (templated traces, normalization).
        normalize: the env's action normalization.
        make_env: ``make_env(mode) -> env`` for online episodes, or ``None``.
        online_task_ids: the tasks online episodes may draw from (``None``: all).
        records: per-item records of the stages that ran before, by diagnostic name.
        tick: ``tick(n)`` counts ``n`` units of progress that do not go through ``model``.
    """

    policy: Any
    model: Any
    states: Sequence[Mapping[str, Any]]
    config: Any
    options: Any = None
    env_id: str | None = None
    normalize: Callable[[str], str] | None = None
    make_env: Callable[[str], Any] | None = None
    online_task_ids: Sequence[str] | None = None
    records: dict[str, Any] = field(default_factory=dict)
    tick: Callable[[int], None] = lambda _n: None


@dataclass(frozen=True)
class LeaderboardColumn:
    """A column a diagnostic offers the leaderboard, read from the last checkpoint of a diagnose
    report of the row's policy, env and split (``DIR/diagnose/<policy>/report.json``).

    Attributes:
        stat: the key of the number record in the diagnostic's summary (e.g. ``"early/aoc"``).
        key: the row key of the value (its interval goes to ``ci_key``).
        title: the column title (units in it).
        ci_key, ci_title: the row key and title of the ``"[lo, hi] n=N"`` interval column.
        fmt: format of the value (``".3f"``).
    """

    stat: str
    key: str
    title: str
    ci_key: str
    ci_title: str
    fmt: str = ".3f"


@dataclass(frozen=True)
class Diagnostic:
    """One diagnostic (see the module docstring).

    Attributes:
        name: report key and stage name (``checkpoint[name]`` is its summary).
        run: ``run(inputs) -> (summary, records)``: ``summary`` maps stat names to number records
            ``{"value", "n", "ci95"}`` (or nested dicts of them), ``records`` is JSON-ready or ``None``.
        enabled: ``enabled(inputs) -> bool``: whether it runs for this config and policy.
        planned: ``planned(inputs) -> int | None``: planned model calls (``None``: unknown, no ETA).
        options: default options passed as ``inputs.options`` (e.g. a dataclass instance).
        markdown: ``markdown(checkpoints) -> list[str]``: its ``report.md`` section (checkpoints
            without its summary included; return ``[]`` when none has it).
        plots: ``(file name, plot(report, path) -> path | None)`` pairs.
        columns: leaderboard columns it offers.
        doc: one line for listings and the report.
    """

    name: str
    run: Callable[[StageInputs], tuple[Any, Any]]
    enabled: Callable[[StageInputs], bool] = lambda _i: True
    planned: Callable[[StageInputs], int | None] = lambda _i: None
    options: Any = None
    markdown: Callable[[Sequence[dict[str, Any]]], list[str]] | None = None
    plots: tuple[tuple[str, Callable[[dict[str, Any], Path], Path | None]], ...] = ()
    columns: tuple[LeaderboardColumn, ...] = ()
    doc: str = ""
