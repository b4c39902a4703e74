"""BFCL v4 entries, ground truth and categories, read from the installed ``bfcl-eval`` package.

Nothing is copied into this repository: entries come from ``bfcl_eval.utils.load_dataset_entry``
(which also fills the multi-turn function docs and moves the held-out docs of ``miss_func`` into
``missed_function``) and ground truth from ``bfcl_eval.utils.load_ground_truth_entry``. Both are
cached per process and must be treated as read-only.
"""

from __future__ import annotations

import functools
from typing import Any

from cotdiag.error import DependencyNotInstalled, InvalidConfigError, UnknownTaskError

#: Single-turn categories in Python syntax, scored by the AST checker.
AST_CATEGORIES: tuple[str, ...] = (
    "simple_python",
    "multiple",
    "parallel",
    "parallel_multiple",
    "live_simple",
    "live_multiple",
    "live_parallel",
    "live_parallel_multiple",
)
#: Single-turn categories scored only on whether a call is made (no ground truth file).
RELEVANCE_CATEGORIES: tuple[str, ...] = ("irrelevance", "live_irrelevance", "live_relevance")
SINGLE_TURN_CATEGORIES: tuple[str, ...] = AST_CATEGORIES + RELEVANCE_CATEGORIES
#: Multi-turn categories, scored by the state and response checkers.
MULTI_TURN_CATEGORIES: tuple[str, ...] = (
    "multi_turn_base",
    "multi_turn_miss_func",
    "multi_turn_miss_param",
    "multi_turn_long_context",
)
CATEGORIES: tuple[str, ...] = SINGLE_TURN_CATEGORIES + MULTI_TURN_CATEGORIES

#: The study's held-out setting (docs/concepts.md (arXiv 2606.26935), "OOD splits": BFCL holds out the long-context setting).
OOD_CATEGORIES: tuple[str, ...] = ("multi_turn_long_context",)

#: split name -> categories, in order. Every category is also a split of its own name.
SPLITS: dict[str, tuple[str, ...]] = {
    "in_domain": tuple(c for c in CATEGORIES if c not in OOD_CATEGORIES),
    "ood_long_context": OOD_CATEGORIES,
    **{c: (c,) for c in CATEGORIES},
}


def _bfcl_utils() -> Any:
    try:
        import bfcl_eval.utils as utils
    except ImportError as e:  # pragma: no cover - exercised only without the dependency
        raise DependencyNotInstalled(f"CoTDiag-BFCL-v0 needs `bfcl-eval` (pip install cotdiag): {e}") from e
    return utils


def is_multi_turn(category: str) -> bool:
    """``True`` for the ``multi_turn_*`` categories."""
    return category in MULTI_TURN_CATEGORIES


def _check_category(category: str) -> None:
    if category not in CATEGORIES:
        raise InvalidConfigError(f"expected category in {list(CATEGORIES)}, got {category!r}")


@functools.cache
def load_entries(category: str) -> tuple[dict[str, Any], ...]:
    """The prompt entries of ``category``, as BFCL's inference sees them (language hint included).

    Raises:
        InvalidConfigError: unknown category.
        DependencyNotInstalled: ``bfcl-eval`` is missing.
    """
    _check_category(category)
    return tuple(_bfcl_utils().load_dataset_entry(category, include_prereq=False))


@functools.cache
def load_ground_truth(category: str) -> dict[str, Any]:
    """``{entry_id: ground_truth}`` of ``category``; empty for the relevance categories.

    Single-turn ground truth is ``[{func_name: {param: [accepted values]}}]``; multi-turn ground
    truth is ``[[call_string, ...] per turn]``. BFCL aligns answers with entries by index.
    """
    _check_category(category)
    if category in RELEVANCE_CATEGORIES:
        return {}
    answers = _bfcl_utils().load_ground_truth_entry(category)
    entries = load_entries(category)
    if len(answers) != len(entries):
        raise InvalidConfigError(
            f"expected {len(entries)} ground-truth entries for {category}, got {len(answers)}"
        )
    return {e["id"]: a["ground_truth"] for e, a in zip(entries, answers, strict=True)}


def list_task_ids(split: str) -> list[str]:
    """Entry ids of ``split`` in BFCL's file order, category by category.

    Raises:
        InvalidConfigError: unknown split.
    """
    if split not in SPLITS:
        raise InvalidConfigError(f"expected split in {list(SPLITS)}, got {split!r}")
    return [e["id"] for c in SPLITS[split] for e in load_entries(c)]


@functools.cache
def _entries_by_id(category: str) -> dict[str, dict[str, Any]]:
    return {e["id"]: e for e in load_entries(category)}


def category_of(task_id: str) -> str:
    """The category of an entry id (``"live_simple_3-2-0"`` -> ``"live_simple"``).

    Raises:
        KeyError: no supported category has this id.
    """
    for c in sorted(CATEGORIES, key=len, reverse=True):
        if task_id.startswith(c + "_") and task_id in _entries_by_id(c):
            return c
    raise UnknownTaskError(f"{task_id!r} is not an entry of a supported BFCL category")


def get_entry(task_id: str) -> tuple[str, dict[str, Any], Any]:
    """``(category, entry, ground_truth)`` of ``task_id`` (ground truth ``None`` when absent)."""
    category = category_of(task_id)
    return category, _entries_by_id(category)[task_id], load_ground_truth(category).get(task_id)
