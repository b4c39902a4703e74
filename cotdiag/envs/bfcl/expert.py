"""Expert answers for single-turn entries, built from BFCL's possible answers.

A possible answer is ``[{func: {param: [accepted values]}}]``; ``""`` among the accepted values
means the parameter may be omitted, and a ``dict`` value holds accepted-value lists itself. The
expert takes the first accepted value of each parameter (omitting it when that value is ``""``),
except that a required parameter takes its first real value and a parameter the function schema
does not declare is omitted when it may be.
"""

from __future__ import annotations

from typing import Any

from cotdiag.envs.bfcl.calls import END_OF_TURN, Call, calls_to_string

_OMIT = object()


def _first(accepted: Any) -> Any:
    """First accepted value of a parameter, ``_OMIT`` when that value is ``""`` (optional)."""
    if not isinstance(accepted, list) or not accepted:
        return _resolve(accepted)
    value = accepted[0]
    return _OMIT if value == "" else _resolve(value)


def _resolve(value: Any) -> Any:
    if isinstance(value, dict):
        out = {k: _first(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not _OMIT}
    if isinstance(value, list):
        return [_resolve(v) if isinstance(v, dict) else v for v in value]
    return value


def _pick(accepted: Any, *, required: bool, declared: bool) -> Any:
    """Choose a parameter's value: omit it when it is undeclared in the schema and may be omitted;
    take the first real value when it is required; else the first accepted value."""
    if not isinstance(accepted, list) or not accepted:
        return _resolve(accepted)
    may_omit = "" in accepted
    if not declared and may_omit:
        return _OMIT
    if required:
        real = [v for v in accepted if v != ""]
        if real:
            return _resolve(real[0])
    return _first(accepted)


def single_turn_expert(category: str, ground_truth: Any, functions: list[dict[str, Any]] | None = None) -> str | None:
    """The expert answer of a single-turn entry.

    Args:
        category: the entry's category.
        ground_truth: BFCL's possible answer (``None`` when there is none).
        functions: the entry's function docs (their ``required`` and ``properties`` guide the choice).

    Returns:
        ``"[f(a=1), g(b='x')]"``; ``"[]"`` for ``irrelevance``/``live_irrelevance`` (no call is the
        correct answer); ``None`` for ``live_relevance`` (no ground truth exists).
    """
    if category in ("irrelevance", "live_irrelevance"):
        return END_OF_TURN
    if ground_truth is None:
        return None
    schemas = {f["name"]: f.get("parameters", {}) for f in functions or []}
    calls = []
    for item in ground_truth:
        for name, params in item.items():
            schema = schemas.get(name, {})
            declared = schema.get("properties", params)
            required = set(schema.get("required", []))
            kwargs = {k: _pick(v, required=k in required, declared=k in declared) for k, v in params.items()}
            calls.append(Call(name=name, kwargs=tuple((k, v) for k, v in kwargs.items() if v is not _OMIT)))
    return calls_to_string(calls)
