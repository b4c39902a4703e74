"""What a pipeline tells whoever watches it: stage titles, lines, and progress of counted work."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol

logger = logging.getLogger("cotdiag.pipelines")


class PipelineUI(Protocol):
    """The interface a pipeline reports through (:class:`LogUI` logs; the CLI draws with rich)."""

    def stage(self, title: str) -> None:
        """A new stage starts (``"1/4 expert dataset"``)."""

    def say(self, text: str) -> None:
        """One line for the reader."""

    def progress(self, label: str, total: int | None) -> AbstractContextManager[Callable[..., None]]:
        """A context manager yielding ``update(done, *, total=None, description=None)`` for counted
        work (``total``: set or change the total, e.g. once a trainer knows its steps)."""


def tenths_reporter(say: Callable[[str], None], label: str, total: int | None) -> Callable[..., None]:
    """An ``update(done, *, total=None, description=None)`` that calls ``say("label: done/total")``
    at most once per tenth of ``total`` (every call when the total is unknown)."""
    state = {"total": total, "last": -1}

    def update(done: int, *, total: int | None = None, description: str | None = None) -> None:
        if total is not None:
            state["total"] = total
        n = state["total"]
        tenth = int(10 * done / n) if n else done
        if tenth != state["last"]:
            state["last"] = tenth
            say(f"{description or label}: {done}" + (f"/{n}" if n else ""))

    return update


class LogUI:
    """:class:`PipelineUI` on ``logging`` (logger ``cotdiag.pipelines``): stages and lines at INFO,
    progress at most once per 10% of the total."""

    def stage(self, title: str) -> None:
        logger.info("== %s", title)

    def say(self, text: str) -> None:
        logger.info("%s", text)

    @contextmanager
    def progress(self, label: str, total: int | None) -> Iterator[Callable[..., None]]:
        yield tenths_reporter(lambda text: logger.info("%s", text), label, total)
