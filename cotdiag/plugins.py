"""Load user modules (environments, policies) without an entry point or an edit to ``cotdiag/``.

``cotdiag evaluate --import SPEC`` and ``cotdiag leaderboard run --import SPEC`` call
:func:`import_user_module`; a module registers its environments with
``gymnasium.register(...)`` and its policies with :func:`cotdiag.agents.registry.register_policy`
when imported. The Ray backend re-imports the same specs in every worker process.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import logging
import sys
from pathlib import Path
from types import ModuleType

from cotdiag.error import InvalidConfigError

logger = logging.getLogger(__name__)

#: Specs imported so far in this process (file paths made absolute), in import order.
_IMPORTED: list[str] = []


def imported_specs() -> list[str]:
    """The specs imported in this process, for re-import in worker processes (Ray actors)."""
    return list(_IMPORTED)


def _remember(spec: str) -> None:
    if spec not in _IMPORTED:
        _IMPORTED.append(spec)


def import_user_module(spec: str) -> ModuleType:
    """Import a user module given as a dotted name or a path to a ``.py`` file.

    A path is imported under a name derived from its absolute path, so importing it twice (or from
    two specs naming the same file) runs it once. The current directory is put on ``sys.path`` for
    dotted names, as ``python -m`` does.

    Args:
        spec: ``"my_pkg.envs"`` or ``"examples/textworld_env/tw_env.py"``.

    Returns:
        The imported module.

    Raises:
        InvalidConfigError: the file does not exist or the module cannot be found.

    Example:
        >>> import_user_module("json").__name__
        'json'
    """
    if spec.endswith(".py") or "/" in spec or "\\" in spec:
        path = Path(spec).expanduser().resolve()
        if not path.is_file():
            raise InvalidConfigError(f"expected an existing .py file or a dotted module name, got {spec!r}")
        digest = hashlib.sha1(str(path).encode()).hexdigest()[:8]
        name = f"cotdiag_user_{path.stem}_{digest}"
        if name in sys.modules:
            return sys.modules[name]
        mod_spec = importlib.util.spec_from_file_location(name, path)
        if mod_spec is None or mod_spec.loader is None:
            raise InvalidConfigError(f"cannot import {spec!r} as a Python module")
        module = importlib.util.module_from_spec(mod_spec)
        sys.modules[name] = module
        try:
            mod_spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
        _remember(str(path))
        logger.debug("imported %s as %s", path, name)
        return module
    if "" not in sys.path and str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        module = importlib.import_module(spec)
    except ModuleNotFoundError as e:
        raise InvalidConfigError(f"cannot import module {spec!r}: {e}") from e
    _remember(spec)
    return module


def import_user_modules(specs: list[str] | tuple[str, ...] | None) -> list[ModuleType]:
    """Import each spec with :func:`import_user_module`, in order."""
    return [import_user_module(s) for s in specs or ()]
