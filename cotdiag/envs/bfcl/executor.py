"""Safe execution of parsed calls on BFCL's multi-turn API class instances.

BFCL's harness (``execute_multi_turn_func_call``) rewrites call strings and runs them with
``eval``. Here nothing is evaluated: a :class:`~cotdiag.envs.bfcl.calls.Call` names a method, the
method is looked up on the instance by name (only public methods defined on the API class), and it
is called with the literal keyword arguments the parser built. Instances are created and loaded
exactly as BFCL's harness does (``class_()`` then ``_load_scenario(deepcopy(config),
long_context=...)`` for stateful classes), so BFCL's state checker compares like with like, and
results are turned into strings with BFCL's rules (``str`` kept, ``dict`` JSON-dumped, anything
else ``str()``; an exception becomes ``"Error during execution: <message>"``).
"""

from __future__ import annotations

import copy
import functools
import importlib
import inspect
import json
from collections.abc import Callable, Iterable
from typing import Any

from cotdiag.envs.bfcl.calls import Call
from cotdiag.error import CoTDiagError, DependencyNotInstalled

#: Largest integer exponent ``MathAPI.power`` runs on integer bases (larger ones would take minutes).
MAX_INT_EXPONENT = 10_000
#: Largest ``precision`` of ``MathAPI.square_root`` and ``MathAPI.logarithm`` (decimal digits; they
#: set the decimal context's / mpmath's precision, and 10^5 digits already take tens of seconds).
MAX_SQRT_PRECISION = 1_000
#: Largest ``abs(decimal_places)`` of ``MathAPI.round_number`` (``round(5, -10**8)`` runs for minutes).
MAX_DECIMAL_PLACES = 1_000


class InvalidCallError(CoTDiagError, ValueError):
    """A parsed call may not run here (unknown, unavailable or excluded function)."""


def _backend_config() -> Any:
    try:
        from bfcl_eval.constants import executable_backend_config as config
    except ImportError as e:  # pragma: no cover - exercised only without the dependency
        raise DependencyNotInstalled(f"CoTDiag-BFCL-v0 needs `bfcl-eval` (pip install cotdiag): {e}") from e
    return config


@functools.cache
def api_class(class_name: str) -> type:
    """The BFCL API class named ``class_name`` (``"GorillaFileSystem"``, ``"MathAPI"``, ...).

    Raises:
        KeyError: BFCL has no such class.
    """
    module = importlib.import_module(_backend_config().CLASS_FILE_PATH_MAPPING[class_name])
    return getattr(module, class_name)


@functools.cache
def public_methods(cls: type) -> frozenset[str]:
    """Names of the public functions defined on ``cls`` or its bases (not ``object``)."""
    return frozenset(
        name
        for klass in cls.__mro__[:-1]
        for name, member in vars(klass).items()
        if not name.startswith("_") and inspect.isfunction(member)
    )


def format_result(result: Any) -> str:
    """BFCL's string form of a return value (``multi_turn_utils.execute_multi_turn_func_call``)."""
    if type(result) is str:
        return result
    if type(result) is dict:
        try:
            return json.dumps(result)
        except Exception:  # BFCL's fallback for unserializable dicts
            return str(result)
    return str(result)


def _guard_power(kwargs: dict[str, Any]) -> str | None:
    base, exponent = kwargs.get("base"), kwargs.get("exponent")
    if type(base) is int and type(exponent) is int and abs(exponent) > MAX_INT_EXPONENT:
        return f"integer exponent {exponent} is larger than {MAX_INT_EXPONENT} (refused by CoTDiag)"
    return None


def _guard_precision(kwargs: dict[str, Any]) -> str | None:
    precision = kwargs.get("precision")
    if isinstance(precision, int) and precision > MAX_SQRT_PRECISION:
        return f"precision {precision} is larger than {MAX_SQRT_PRECISION} (refused by CoTDiag)"
    return None


def _guard_round(kwargs: dict[str, Any]) -> str | None:
    places = kwargs.get("decimal_places")
    if isinstance(places, int) and abs(places) > MAX_DECIMAL_PLACES:
        return f"decimal_places {places} is beyond ±{MAX_DECIMAL_PLACES} (refused by CoTDiag)"
    return None


#: (class, method) -> check returning a refusal message for calls that would hang the process.
GUARDS: dict[tuple[str, str], Callable[[dict[str, Any]], str | None]] = {
    ("MathAPI", "power"): _guard_power,
    ("MathAPI", "square_root"): _guard_precision,
    ("MathAPI", "logarithm"): _guard_precision,
    ("MathAPI", "round_number"): _guard_round,
}


class APISession:
    """The API instances of one multi-turn episode and a safe dispatcher onto them.

    Args:
        involved_classes: BFCL class names of the entry, in the entry's order (a later class wins a
            method name two classes share, as in BFCL's harness).
        initial_config: the entry's ``initial_config`` (deep-copied, never mutated).
        long_context: load the scenarios in long-context mode (``multi_turn_long_context``).

    Raises:
        KeyError: an unknown class name.
    """

    def __init__(self, involved_classes: Iterable[str], initial_config: dict[str, Any], *, long_context: bool) -> None:
        stateless = set(_backend_config().STATELESS_CLASSES)
        self.instances: dict[str, Any] = {}
        self._owner: dict[str, str] = {}
        for class_name in involved_classes:
            cls = api_class(class_name)
            instance = cls()
            if class_name not in stateless:
                instance._load_scenario(copy.deepcopy(initial_config.get(class_name, {})), long_context=long_context)
            self.instances[class_name] = instance
            for name in public_methods(cls):
                self._owner[name] = class_name

    @property
    def method_names(self) -> frozenset[str]:
        """Every public method name of the involved classes."""
        return frozenset(self._owner)

    def validate(self, calls: list[Call], allowed: frozenset[str] | set[str] | None = None) -> None:
        """Check that every call may run, before any runs.

        Args:
            calls: parsed calls.
            allowed: function names available now; ``None`` allows every public method.

        Raises:
            InvalidCallError: a call names a function that is not available (the message names the
                call and lists what is available).
        """
        for call in calls:
            if call.name not in self._owner or (allowed is not None and call.name not in allowed):
                names = sorted(allowed if allowed is not None else self._owner)
                raise InvalidCallError(
                    f"Invalid action: `{call.name}` is not an available function; expected one of {names}."
                )

    def execute(self, calls: list[Call]) -> list[str]:
        """Run validated calls in order and return one result string per call.

        Exceptions raised by an API method are caught and returned as BFCL's error string.
        """
        results = []
        for call in calls:
            class_name = self._owner[call.name]
            kwargs = dict(call.kwargs)
            guard = GUARDS.get((class_name, call.name))
            refusal = guard(kwargs) if guard is not None else None
            if refusal is not None:
                results.append(f"Error during execution: {refusal}")
                continue
            method = getattr(self.instances[class_name], call.name)
            try:
                results.append(format_result(method(*call.args, **kwargs)))
            except Exception as e:  # an API error is an observation, as in BFCL
                results.append(f"Error during execution: {e}")
        return results

    def to_keywords(self, call: Call) -> Call:
        """``call`` with positional arguments bound to their parameter names (ground truth has
        ``sort('report.pdf')``; the canonical expert action is ``sort(file_name='report.pdf')``).

        Raises:
            InvalidCallError: unknown function, or the arguments do not bind to its signature.
        """
        if not call.args:
            return call
        self.validate([call])
        method = getattr(self.instances[self._owner[call.name]], call.name)
        try:
            bound = inspect.signature(method).bind(*call.args, **dict(call.kwargs))
        except TypeError as e:
            raise InvalidCallError(f"cannot bind the arguments of {call.to_string()}: {e}") from None
        return Call(name=call.name, kwargs=tuple(bound.arguments.items()))
