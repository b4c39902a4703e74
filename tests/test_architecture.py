"""The package's shape: one room per concept, imports point down, no cycle, small modules (issue #13).

The import graph is read statically from every ``import`` in ``cotdiag/``, including the lazy ones
inside functions, so a cycle that only closes at run time is caught too.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "cotdiag"

#: Floor of each room (``cotdiag.<room>``): a module may import its own room and lower floors only.
#: ``""`` is the top-level ``cotdiag`` package: a façade that registers the envs, which anything may
#: import and which may import any room.
FLOORS: dict[str, int] = {
    "error": 0, "stats": 0, "plugins": 0, "versions": 0, "": 0,
    "envs": 1, "testing": 1,
    "response": 2, "traces": 2,
    "wrappers": 3, "multiagent": 3,
    "agents": 4,
    "rollout": 5,
    "baselines": 6, "diagnostics": 6,
    "leaderboard": 7, "pipelines": 7,
    "cli": 8,
}
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 80  # the body without its docstring


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _graph() -> dict[str, set[str]]:
    mods = _modules()

    def resolve(name: str) -> str:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name

    edges: dict[str, set[str]] = defaultdict(set)
    for mod, path in mods.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                targets = [f"{node.module}.{a.name}" for a in node.names]
            else:
                continue
            edges[mod] |= {resolve(t) for t in targets if t.startswith("cotdiag")} - {mod, ""}
    return edges


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_no_import_cycle():
    edges = _graph()
    state: dict[str, int] = {}  # 1: on the stack, 2: done

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                pytest.fail("import cycle: " + " -> ".join(stack[stack.index(nxt):] + [node, nxt]))
            if nxt not in state:
                visit(nxt, stack + [node])
        state[node] = 2

    for module in sorted(_modules()):
        if module not in state:
            visit(module, [])


def test_imports_point_down():
    rooms = {_room(m) for m in _modules()}
    assert rooms <= set(FLOORS), f"rooms without a floor: {sorted(rooms - set(FLOORS))}"
    upward = [
        f"{src} -> {dst}"
        for src, dsts in _graph().items() for dst in dsts
        if _room(src) not in ("", _room(dst)) and FLOORS[_room(dst)] > FLOORS[_room(src)]
    ]
    assert not upward, "imports that climb a floor:\n" + "\n".join(sorted(upward))


def test_wrappers_holds_only_gym_wrappers():
    import gymnasium as gym

    import cotdiag.wrappers as wrappers

    classes = [getattr(wrappers, n) for n in wrappers.__all__ if isinstance(getattr(wrappers, n), type)]
    assert classes and all(issubclass(c, gym.Wrapper) for c in classes)


def test_modules_and_functions_are_small():
    too_long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = path.read_text()
        if len(source.splitlines()) > MAX_MODULE_LINES:
            too_long.append(f"{path.name}: {len(source.splitlines())} lines")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                first = node.body[0]
                has_doc = isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and len(node.body) > 1
                start = node.body[1].lineno if has_doc else first.lineno
                if node.end_lineno - start + 1 > MAX_FUNCTION_LINES:
                    too_long.append(f"{path.name}:{node.name}: {node.end_lineno - start + 1} lines")
    assert not too_long, too_long


def test_standard_library_is_imported_at_module_level():
    """Imports inside functions are kept for heavy or optional dependencies (torch, transformers, ...);
    the standard library is imported where every reader looks for it, at the top of the module."""
    local = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for fn in ast.walk(ast.parse(path.read_text())):
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for node in ast.walk(fn):
                    if isinstance(node, (ast.Import, ast.ImportFrom)):
                        name = (node.module if isinstance(node, ast.ImportFrom) else node.names[0].name) or ""
                        if name.split(".")[0] in sys.stdlib_module_names:
                            local.append(f"{path.name}:{node.lineno}: {name}")
    assert local == []


@pytest.mark.parametrize("room", sorted({m.split(".")[1] for m in _modules() if "." in m}))
def test_each_room_imports_alone(room):
    """A fresh interpreter imports every module of the room, with nothing imported before."""
    names = sorted(m for m in _modules() if _room(m) == room)
    code = f"import importlib\nfor n in {names!r}:\n    importlib.import_module(n)\n"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]


def _raised_classes():
    """``(module, line, class)`` of every ``raise Name(...)`` / ``raise mod.Name(...)`` in the package."""
    import builtins
    import importlib

    for module, path in sorted(_modules().items()):
        mod = importlib.import_module(module)
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call)):
                continue
            func, obj = node.exc.func, None
            if isinstance(func, ast.Name):
                obj = getattr(mod, func.id, getattr(builtins, func.id, None))
            elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
                obj = getattr(getattr(mod, func.value.id, None), func.attr, None)
            if isinstance(obj, type) and issubclass(obj, BaseException):
                yield module, node.lineno, obj


def test_every_deliberate_error_is_a_cotdiag_error():
    """Errors raised on purpose derive from CoTDiagError (with a standard base where callers expect one).

    Allowed otherwise: ``NotImplementedError`` (abstract methods), ``AssertionError`` (unreachable
    code and the shipped checker's ``ContractError``), Gymnasium's own contract errors
    (``ResetNeeded``), the CLI's typer exits and usage errors, and the dead endpoint that
    :class:`cotdiag.testing.FailingExpertPolicy` simulates.
    """
    import gymnasium
    import typer

    from cotdiag.error import CoTDiagError

    allowed = (NotImplementedError, AssertionError, gymnasium.error.Error, typer.BadParameter, typer.Exit)
    simulated = {("cotdiag.testing", ConnectionError)}  # FailingExpertPolicy plays a dead endpoint
    stray = [f"{m}:{line} raises {cls.__name__}" for m, line, cls in _raised_classes()
             if not issubclass(cls, (CoTDiagError, *allowed)) and (m, cls) not in simulated]
    assert not stray, stray


def test_docstrings_cite_the_repository_s_definitions():
    """Definitions are cited from docs/concepts.md (arXiv 2606.26935), never from a file outside the repository."""
    concepts = (PACKAGE.parent / "docs" / "concepts.md").read_text()
    assert "2606.26935" in concepts
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text()
        assert "PAPER.md" not in text and "/work/" not in text, path
