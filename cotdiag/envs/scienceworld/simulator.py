"""One ScienceWorld JVM per env: started lazily, reused across resets, shut down without leaks.

ScienceWorld's Python class (:class:`scienceworld.ScienceWorldEnv`) launches the simulator jar with
py4j's ``launch_gateway(die_on_exit=True)`` and talks to it over a local socket. Its ``close()``
asks the gateway to shut down but neither waits for the Java process nor tolerates a JVM that is
already dead (py4j then logs connection errors, also from ``__del__``). :class:`JVM` adds what is
missing: idempotent, quiet shutdown that reaps the process (no zombie, no stray callback-server
thread), a liveness check, and a clear :class:`~cotdiag.error.SimulatorError` when the JVM is gone.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import re
import subprocess
import threading
from collections.abc import Iterator
from typing import Any

from cotdiag.error import DependencyNotInstalled, InvalidConfigError, SimulatorError

logger = logging.getLogger(__name__)

#: Seconds to wait for the JVM to exit after the shutdown request before killing it.
SHUTDOWN_TIMEOUT_S = 10.0


@functools.cache
def _raw_class() -> type:
    """Return a quiet, idempotent subclass of :class:`scienceworld.ScienceWorldEnv`.

    Raises:
        DependencyNotInstalled: ``scienceworld`` (or ``py4j``) is not installed.
    """
    try:
        from scienceworld import ScienceWorldEnv
    except ImportError as e:  # pragma: no cover - exercised only without the dependency
        raise DependencyNotInstalled(
            f"CoTDiag-ScienceWorld-v0 needs `scienceworld` and Java >= 11 (pip install cotdiag): {e}"
        ) from e

    class _ScienceWorld(ScienceWorldEnv):
        _closed = False

        def close(self) -> None:
            if self._closed:
                return
            self._closed = True
            gateway = getattr(self, "_gateway", None)
            if gateway is None:  # __init__ failed before the gateway existed
                return
            proc = gateway.java_process
            if proc is not None and proc.poll() is None:
                try:
                    super().close()  # shutdown request + newline on stdin (die_on_exit)
                except Exception as e:  # the JVM may die while we ask it to
                    logger.debug("ScienceWorld shutdown request failed: %r", e)
            else:  # dead JVM: only stop our side (no connection attempt, no error log)
                gateway.shutdown_callback_server()
                gateway.close()
            # py4j's finalizers of this gateway's JavaObjects must not dial the gone JVM: they
            # would log connection tracebacks from inside garbage collection, whose formatting
            # calls ast.parse and can break a parse in progress on CPython 3.11 ("AST
            # constructor recursion depth mismatch").
            gateway._gateway_client.is_connected = False
            if proc is not None:
                try:
                    proc.wait(timeout=SHUTDOWN_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    logger.warning("ScienceWorld JVM (pid %d) ignored shutdown; killing it", proc.pid)
                    proc.kill()
                    proc.wait()
                for pipe in (proc.stdin, proc.stdout, proc.stderr):
                    if pipe is not None:
                        pipe.close()
            tmp = getattr(self, "_obj_tree_tempdir", None)
            if tmp is not None:
                tmp.cleanup()

        def __del__(self) -> None:
            try:
                self.close()
            except Exception:  # never raise from a finalizer
                pass

    return _ScienceWorld


#: Serializes JVM launches: a launch reads the process environment, which :func:`_java_options` edits.
_LAUNCH_LOCK = threading.Lock()


@contextlib.contextmanager
def _java_options(max_heap: str | None) -> Iterator[None]:
    """Add ``-Xmx<max_heap>`` to ``JAVA_TOOL_OPTIONS`` while a JVM is launched, then restore it.

    ``launch_gateway`` offers no way to pass JVM options through ScienceWorld's class; the JVM reads
    this variable at start-up (and notes on stderr that it did).
    """
    if max_heap is None:
        yield
        return
    old = os.environ.get("JAVA_TOOL_OPTIONS")
    os.environ["JAVA_TOOL_OPTIONS"] = f"{old or ''} -Xmx{max_heap}".strip()
    try:
        yield
    finally:
        if old is None:
            del os.environ["JAVA_TOOL_OPTIONS"]
        else:
            os.environ["JAVA_TOOL_OPTIONS"] = old


class JVM:
    """A lazily started ScienceWorld simulator (one Java process).

    Args:
        max_heap: the JVM's maximum heap, as ``java -Xmx`` takes it (``"512m"``, ``"2g"``); ``None``
            keeps Java's default (a quarter of the machine's memory; one ScienceWorld JVM was seen
            to grow to about 2 GB over 1,000 resets).

    Attributes:
        raw: the running :class:`scienceworld.ScienceWorldEnv` (``None`` until :meth:`start`).

    Raises:
        InvalidConfigError: ``max_heap`` is not a number with an optional ``k``/``m``/``g`` unit.
    """

    def __init__(self, max_heap: str | None = None) -> None:
        if max_heap is not None and not re.fullmatch(r"[1-9][0-9]*[kKmMgG]?", str(max_heap)):
            raise InvalidConfigError(f"expected a heap size like '512m' or '2g', got {max_heap!r}")
        self.max_heap = max_heap
        self.raw: Any = None

    @property
    def pid(self) -> int | None:
        """Process id of the running JVM, or ``None``."""
        if self.raw is None:
            return None
        return int(self.raw._gateway.java_process.pid)

    def max_heap_bytes(self) -> int | None:
        """The running JVM's maximum heap in bytes (``Runtime.maxMemory()``), or ``None``."""
        if not self.alive():
            return None
        return int(self.raw._gateway.jvm.java.lang.Runtime.getRuntime().maxMemory())

    def alive(self) -> bool:
        """``True`` when a JVM was started and its process has not exited."""
        return self.raw is not None and self.raw._gateway.java_process.poll() is None

    def ensure(self) -> Any:
        """Return the running simulator, starting a fresh JVM if there is none or it died.

        Raises:
            DependencyNotInstalled: ``scienceworld`` is missing or ``java`` is not on ``PATH``.
            SimulatorError: the JVM did not start.
        """
        if self.alive():
            return self.raw
        self.close()
        cls = _raw_class()
        try:
            with _LAUNCH_LOCK, _java_options(self.max_heap):
                self.raw = cls(None, envStepLimit=2**31 - 1)  # truncation comes from TimeLimit
        except FileNotFoundError as e:
            raise DependencyNotInstalled(f"CoTDiag-ScienceWorld-v0 needs `java` (>= 11) on PATH: {e}") from e
        except Exception as e:
            raise SimulatorError(f"the ScienceWorld JVM did not start: {e!r}") from e
        logger.info("started ScienceWorld JVM (pid %d)", self.pid)
        return self.raw

    def close(self) -> None:
        """Shut the JVM down and reap it (idempotent; works on a dead JVM)."""
        raw, self.raw = self.raw, None
        if raw is not None:
            raw.close()
