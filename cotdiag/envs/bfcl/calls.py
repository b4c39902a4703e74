"""Safe parsing of function-call actions in BFCL's Python syntax.

An action is one call ``f(a=1)`` or a list of calls ``[f(a=1), g(b="x")]``; ``[]`` (a list of no
calls) is the end-of-turn action. Parsing uses :func:`ast.parse` only; every argument must be a
literal: ``str``, ``int``, ``float``, ``bool``, ``None``, a negated number, or a ``list``,
``tuple`` or ``dict`` of literals (nested at most :data:`MAX_LITERAL_DEPTH` deep). Values are then
built with :func:`ast.literal_eval` on the already-checked nodes. Names, attributes (except the
dotted function names of single-turn entries, such as ``math.factorial``), dunders, nested calls,
operators, lambdas, comprehensions, subscripts and starred arguments are rejected with a
:class:`CallSyntaxError` whose message says what was found.

Example:
    >>> [c.to_string() for c in parse_calls("[cd(folder='doc'), ls(a=True)]")]
    ["cd(folder='doc')", 'ls(a=True)']
    >>> parse_calls("[]")
    []
"""

from __future__ import annotations

import ast
import warnings
from dataclasses import dataclass
from typing import Any

from cotdiag.error import CoTDiagError

#: The end-of-turn action: a list of no calls.
END_OF_TURN = "[]"
#: Deepest nesting of list/tuple/dict literals accepted in one argument.
MAX_LITERAL_DEPTH = 32

_SCALARS = (str, int, float, bool, type(None))
#: Builds a value from an already-checked literal node (``ast``'s literal evaluator, never ``eval``).
_literal_value = ast.literal_eval


class CallSyntaxError(CoTDiagError, ValueError):
    """The action is not a list of literal-argument calls.

    Attributes:
        call_shaped: the text is Python whose top level is a call or a list holding a call (so it
            reads as an attempted function call rather than a plain-text answer).
    """

    def __init__(self, message: str, *, call_shaped: bool) -> None:
        super().__init__(message)
        self.call_shaped = call_shaped


@dataclass(frozen=True)
class Call:
    """One parsed function call.

    Attributes:
        name: function name as written (``"cd"``, ``"math.factorial"``).
        kwargs: ``(name, value)`` pairs in the order written.
        args: positional values (accepted only where the parser allows them: ground truth).
    """

    name: str
    kwargs: tuple[tuple[str, Any], ...] = ()
    args: tuple[Any, ...] = ()

    def to_string(self) -> str:
        """Canonical source text, ``name(v, k=v, ...)`` with ``repr`` values (round-trips)."""
        parts = [repr(v) for v in self.args] + [f"{k}={v!r}" for k, v in self.kwargs]
        return f"{self.name}({', '.join(parts)})"

    def as_decoded(self) -> dict[str, dict[str, Any]]:
        """BFCL's decoded form ``{name: {param: value}}`` (what its AST checker consumes)."""
        return {self.name: dict(self.kwargs)}


def calls_to_string(calls: list[Call]) -> str:
    """``[c1, c2]`` in canonical text (``"[]"`` for no call)."""
    return "[" + ", ".join(c.to_string() for c in calls) + "]"


def _describe(node: ast.AST) -> str:
    return type(node).__name__


def _check_literal(node: ast.AST, depth: int = 0) -> None:
    if depth > MAX_LITERAL_DEPTH:
        raise CallSyntaxError(
            f"Invalid action: argument literals nest deeper than {MAX_LITERAL_DEPTH} levels.", call_shaped=True
        )
    if isinstance(node, ast.Constant):
        if not isinstance(node.value, _SCALARS):
            raise CallSyntaxError(
                f"Invalid action: expected str, int, float, bool or None literal, got {type(node.value).__name__}.",
                call_shaped=True,
            )
        return
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        operand = node.operand
        if isinstance(operand, ast.Constant) and type(operand.value) in (int, float):
            return
    elif isinstance(node, (ast.List, ast.Tuple)):
        for elt in node.elts:
            _check_literal(elt, depth + 1)
        return
    elif isinstance(node, ast.Dict):
        for key, value in zip(node.keys, node.values, strict=True):
            if key is None:
                raise CallSyntaxError("Invalid action: `**` unpacking is not allowed in a dict literal.", call_shaped=True)
            if not (isinstance(key, ast.Constant) and isinstance(key.value, _SCALARS)):
                raise CallSyntaxError(
                    f"Invalid action: dict keys must be literals, got {_describe(key)}.", call_shaped=True
                )
            _check_literal(value, depth + 1)
        return
    raise CallSyntaxError(
        f"Invalid action: arguments must be literals (strings, numbers, booleans, None, lists, "
        f"tuples, dicts), got {_describe(node)} `{_snippet(node)}`.",
        call_shaped=True,
    )


def _snippet(node: ast.AST, limit: int = 60) -> str:
    try:
        text = ast.unparse(node)
    except Exception:  # unparse of a pathological tree; the type name is enough
        return _describe(node)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _func_name(func: ast.AST, *, allow_dotted: bool) -> str:
    parts: list[str] = []
    while isinstance(func, ast.Attribute) and allow_dotted:
        parts.append(func.attr)
        func = func.value
    if not isinstance(func, ast.Name):
        raise CallSyntaxError(
            f"Invalid action: the called function must be a plain {'(dotted) ' if allow_dotted else ''}"
            f"name such as `ls`, got {_describe(func)} `{_snippet(func)}`.",
            call_shaped=True,
        )
    parts.append(func.id)
    name = ".".join(reversed(parts))
    if any(p.startswith("__") for p in parts):
        raise CallSyntaxError(f"Invalid action: dunder names are not allowed, got `{name}`.", call_shaped=True)
    return name


def _parse_call(node: ast.Call, *, allow_dotted: bool, allow_positional: bool) -> Call:
    name = _func_name(node.func, allow_dotted=allow_dotted)
    if any(isinstance(a, ast.Starred) for a in node.args):
        raise CallSyntaxError("Invalid action: `*` unpacking is not allowed.", call_shaped=True)
    if node.args and not allow_positional:
        raise CallSyntaxError(
            f"Invalid action: `{name}` got positional arguments; use keyword arguments, e.g. "
            f"`{name}(param=value)`.",
            call_shaped=True,
        )
    args = []
    for arg in node.args:
        _check_literal(arg)
        args.append(_literal_value(arg))
    kwargs = []
    for kw in node.keywords:
        if kw.arg is None:
            raise CallSyntaxError("Invalid action: `**` unpacking is not allowed.", call_shaped=True)
        _check_literal(kw.value)
        kwargs.append((kw.arg, _literal_value(kw.value)))
    return Call(name=name, kwargs=tuple(kwargs), args=tuple(args))


def _is_call_shaped(body: ast.AST) -> bool:
    if isinstance(body, ast.Call):
        return True
    return isinstance(body, (ast.List, ast.Tuple)) and any(isinstance(e, ast.Call) for e in body.elts)


def parse_calls(text: str, *, allow_dotted: bool = False, allow_positional: bool = False) -> list[Call]:
    """Parse an action into calls, without evaluating anything.

    Args:
        text: the action; surrounding whitespace is ignored.
        allow_dotted: accept dotted function names (``math.factorial``; single-turn entries).
        allow_positional: accept positional arguments (used for BFCL's ground-truth strings).

    Returns:
        The calls in order; ``[]`` for the end-of-turn action ``"[]"``.

    Raises:
        CallSyntaxError: the text is not one call or a list of calls with literal arguments.
    """
    if not isinstance(text, str):
        raise CallSyntaxError(f"Invalid action: expected str, got {type(text).__name__}.", call_shaped=False)
    source = text.strip()
    if not source:
        raise CallSyntaxError(
            "Invalid action: empty. Expected a call `f(a=1)`, a list of calls `[f(a=1), g(b='x')]`, "
            f"or `{END_OF_TURN}` to end the turn.",
            call_shaped=False,
        )
    try:
        if "\\" in source:  # only escapes warn ("invalid escape sequence"); filters cost ~0.2 ms
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", (DeprecationWarning, SyntaxWarning))
                body = ast.parse(source, mode="eval").body
        else:
            body = ast.parse(source, mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError) as e:
        raise CallSyntaxError(
            f"Invalid action: not valid Python call syntax ({type(e).__name__}: {str(e)[:120]}).", call_shaped=False
        ) from None
    if isinstance(body, ast.Call):
        nodes = [body]
    elif isinstance(body, ast.List):
        nodes = body.elts
        for node in nodes:
            if not isinstance(node, ast.Call):
                raise CallSyntaxError(
                    f"Invalid action: every list element must be a function call, got {_describe(node)} "
                    f"`{_snippet(node)}`.",
                    call_shaped=_is_call_shaped(body),
                )
    else:
        raise CallSyntaxError(
            f"Invalid action: expected a call `f(a=1)` or a list of calls `[f(a=1), g(b='x')]`, got "
            f"{_describe(body)} `{_snippet(body)}`.",
            call_shaped=_is_call_shaped(body),
        )
    try:
        return [_parse_call(n, allow_dotted=allow_dotted, allow_positional=allow_positional) for n in nodes]
    except RecursionError:
        raise CallSyntaxError("Invalid action: literals nest too deeply.", call_shaped=True) from None
