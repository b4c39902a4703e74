"""One ScienceWorld JVM per env: started lazily, reused across resets, shut down without leaks.

ScienceWorld's Python class (:class:`scienceworld.ScienceWorldEnv`) launches the simulator jar with
py4j's ``launch_gateway(die_on_exit=True)`` and talks to it over a local socket. Its ``close()``
asks the gateway to shut down but neither waits for the Java process nor tolerates a JVM that is
already dead (py4j then logs connection errors, also from ``__del__``). :class:`JVM` adds what is
missing:

- every simulator call goes through :meth:`JVM.call`, which gives each py4j round trip a
  wall-clock budget (``timeout_s``, a socket read timeout) and turns any failure that is not a
  Java exception (connection refused or reset, empty answer, timeout) into a
  :class:`~cotdiag.error.SimulatorError` after killing the JVM (``SIGKILL``, which also ends a
  stopped process) and reaping it, so the next :meth:`JVM.ensure` starts a fresh one;
- liveness is never inferred from ``Popen.poll()`` returning ``None``: py4j's ``ProcessConsumer``
  thread sits in ``proc.wait()`` holding the ``Popen`` waitpid lock, so ``poll()`` answers ``None``
  for a JVM that was just killed until that thread runs. Only a failed call proves death;
- idempotent, quiet shutdown that reaps the process (no zombie, no stray callback-server thread)
  and never raises ``BrokenPipeError`` from closing the pipes of a dead process;
- a default heap cap (:data:`DEFAULT_MAX_HEAP`) and ``-XX:+ExitOnOutOfMemoryError``, so a JVM out
  of heap exits and is replaced instead of limping on;
- a script that never calls ``env.close()`` still exits at once and leaves no JVM: an ``atexit``
  hook kills every live JVM while py4j's threads still run, and reaping never waits on ``Popen``'s
  lock (:func:`_reap`). At interpreter shutdown the daemon ``ProcessConsumer`` thread is frozen
  while it holds that lock, so ``Popen.wait()`` from a finalizer blocked forever.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import logging
import math
import os
import re
import subprocess
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from cotdiag.error import DependencyNotInstalled, InvalidConfigError, SimulatorError

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Seconds to wait for the JVM to exit after the shutdown request before killing it.
SHUTDOWN_TIMEOUT_S = 10.0
#: Seconds to wait for a killed JVM to be reaped.
REAP_TIMEOUT_S = 5.0
#: Every simulator whose JVM may be running (killed by :func:`_kill_all_at_exit`).
_LIVE: weakref.WeakSet = weakref.WeakSet()


def _reap(proc: subprocess.Popen, timeout_s: float = REAP_TIMEOUT_S) -> bool:
    """Reap a killed ``proc`` with ``os.waitpid(WNOHANG)``, never through ``Popen``'s waitpid lock.

    py4j's ``ProcessConsumer`` thread may hold that lock inside ``proc.wait()``; at interpreter
    shutdown that thread is frozen and the lock is never released. Returns ``True`` once the
    process is gone (reaped here or by another thread), ``False`` after ``timeout_s``.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            pid, status = os.waitpid(proc.pid, os.WNOHANG)
        except ChildProcessError:  # reaped already (by py4j's thread or Popen)
            return True
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)


def _kill_all_at_exit() -> None:
    """``atexit``: SIGKILL and reap every JVM still running (scripts that never closed their env)."""
    for raw in list(_LIVE):
        with contextlib.suppress(Exception):
            raw.kill()


atexit.register(_kill_all_at_exit)
#: Default maximum heap of a ScienceWorld JVM (``java -Xmx``). Uncapped, Java takes a quarter of
#: the machine's memory and a JVM grew to 4.3 GB RSS within 100 resets with gold paths; see
#: :class:`cotdiag.envs.scienceworld.ScienceWorldEnv` for the measurements behind this value.
DEFAULT_MAX_HEAP = "512m"
#: Default wall-clock budget of one simulator call (one py4j round trip), in seconds. The slowest
#: healthy call is ``load`` with ``generateGoldPath=True`` on the Mendelian genetics tasks (up to
#: 16 s on a shared 2-core machine, about 54 s on a busy one).
DEFAULT_TIMEOUT_S = 120.0


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
            """Ask the JVM to shut down, wait for it (killing it after ``SHUTDOWN_TIMEOUT_S``)."""
            if self._closed:
                return
            self._closed = True
            gateway = getattr(self, "_gateway", None)
            if gateway is None:  # __init__ failed before the gateway existed
                return
            proc = gateway.java_process
            if proc is not None and proc.poll() is None:  # None: alive, or not reaped yet
                try:
                    super().close()  # shutdown request + newline on stdin (die_on_exit)
                except Exception as e:  # the JVM may be dead already, or die while we ask it to
                    logger.debug("ScienceWorld shutdown request failed: %r", e)
            else:  # dead JVM: only stop our side (no connection attempt, no error log)
                gateway.shutdown_callback_server()
            self._release(gateway, proc, SHUTDOWN_TIMEOUT_S)

        def kill(self) -> None:
            """``SIGKILL`` the JVM without a shutdown request (it may be dead or frozen), reap it."""
            if self._closed:
                return
            self._closed = True
            gateway = getattr(self, "_gateway", None)
            if gateway is None:
                return
            proc = gateway.java_process
            if proc is not None:
                proc.kill()  # no-op once reaped; ends stopped (SIGSTOP) processes too
            gateway.shutdown_callback_server()
            self._release(gateway, proc, SHUTDOWN_TIMEOUT_S)

        def _release(self, gateway: Any, proc: subprocess.Popen | None, wait_s: float) -> None:
            """Drop the connections, reap ``proc`` (killing it after ``wait_s`` seconds), close pipes."""
            client = gateway._gateway_client
            # py4j's finalizers of this gateway's JavaObjects must not dial the gone JVM: they
            # would log connection tracebacks from inside garbage collection, whose formatting
            # calls ast.parse and can break a parse in progress on CPython 3.11 ("AST
            # constructor recursion depth mismatch").
            client.is_connected = False
            client.close()  # pooled sockets
            if proc is not None:
                try:
                    proc.wait(timeout=wait_s)
                except subprocess.TimeoutExpired:
                    logger.warning("ScienceWorld JVM (pid %d) ignored shutdown; killing it", proc.pid)
                    proc.kill()
                    if not _reap(proc):  # never block on Popen's lock (py4j's thread may hold it)
                        logger.warning("ScienceWorld JVM (pid %d) not reaped after SIGKILL", proc.pid)
                for pipe in (proc.stdin, proc.stdout, proc.stderr):
                    if pipe is not None:
                        # closing stdin flushes a buffered newline (die_on_exit) into a dead pipe
                        with contextlib.suppress(OSError):
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
    """Add the JVM options to ``JAVA_TOOL_OPTIONS`` while a JVM is launched, then restore it.

    The options are ``-XX:+ExitOnOutOfMemoryError`` (a JVM out of heap exits, so the next call
    fails fast and the env starts a fresh one) and ``-Xmx<max_heap>`` unless ``max_heap`` is
    ``None``. ``launch_gateway`` offers no way to pass JVM options through ScienceWorld's class; the
    JVM reads this variable at start-up (and notes on stderr, which goes to ``/dev/null``, that it
    did).
    """
    opts = "-XX:+ExitOnOutOfMemoryError" + ("" if max_heap is None else f" -Xmx{max_heap}")
    old = os.environ.get("JAVA_TOOL_OPTIONS")
    os.environ["JAVA_TOOL_OPTIONS"] = f"{old or ''} {opts}".strip()
    try:
        yield
    finally:
        if old is None:
            del os.environ["JAVA_TOOL_OPTIONS"]
        else:
            os.environ["JAVA_TOOL_OPTIONS"] = old


def _check_max_heap(max_heap: str | None) -> str | None:
    """Return ``max_heap`` if it is ``None`` or a ``java -Xmx`` size.

    Raises:
        InvalidConfigError: not a positive integer with an optional ``k``/``m``/``g`` unit.
    """
    if max_heap is not None and not re.fullmatch(r"[1-9][0-9]*[kKmMgG]?", str(max_heap)):
        raise InvalidConfigError(f"expected a heap size like '512m' or '2g' (or None), got {max_heap!r}")
    return max_heap


def _check_timeout(timeout_s: float | None) -> float | None:
    """Return ``timeout_s`` (seconds) as a float, or ``None`` for no budget.

    Raises:
        InvalidConfigError: not ``None`` and not a finite number > 0.
    """
    if timeout_s is None:
        return None
    if isinstance(timeout_s, bool) or not isinstance(timeout_s, (int, float)) or not (
        math.isfinite(timeout_s) and timeout_s > 0
    ):
        raise InvalidConfigError(f"expected simulator_timeout_s > 0 seconds (or None), got {timeout_s!r}")
    return float(timeout_s)


def is_java_error(e: BaseException) -> bool:
    """``True`` for an exception thrown by Java code in a live JVM (``Py4JJavaError``)."""
    from py4j.protocol import Py4JJavaError

    return isinstance(e, Py4JJavaError)


def _is_connection_error(e: BaseException) -> bool:
    """``True`` for a py4j network/protocol failure or a socket error: the JVM is gone or frozen."""
    from py4j.protocol import Py4JError

    return isinstance(e, (Py4JError, OSError)) and not is_java_error(e)


class JVM:
    """A lazily started ScienceWorld simulator (one Java process).

    Args:
        max_heap: the JVM's maximum heap, as ``java -Xmx`` takes it (``"512m"``, ``"2g"``); default
            :data:`DEFAULT_MAX_HEAP`. ``None`` keeps Java's default, a quarter of the machine's
            memory (one JVM grew to 4.3 GB resident within 100 resets with gold paths).
        timeout_s: wall-clock budget in seconds of each simulator call (one py4j round trip; a
            ``step`` makes 3 or more); default :data:`DEFAULT_TIMEOUT_S`, ``None`` for none. Past
            it :meth:`call` kills the JVM and raises :class:`~cotdiag.error.SimulatorError`.

    Attributes:
        raw: the running :class:`scienceworld.ScienceWorldEnv` (``None`` until :meth:`ensure`, and
            again after :meth:`close` or :meth:`kill`).

    Raises:
        InvalidConfigError: ``max_heap`` is not a number with an optional ``k``/``m``/``g`` unit, or
            ``timeout_s`` is not a positive number.
    """

    def __init__(self, max_heap: str | None = DEFAULT_MAX_HEAP, timeout_s: float | None = DEFAULT_TIMEOUT_S) -> None:
        self.max_heap = _check_max_heap(max_heap)
        self.timeout_s = _check_timeout(timeout_s)
        self.raw: Any = None

    @property
    def pid(self) -> int | None:
        """Process id of the running JVM, or ``None``."""
        if self.raw is None:
            return None
        return int(self.raw._gateway.java_process.pid)

    def max_heap_bytes(self) -> int | None:
        """The running JVM's maximum heap in bytes (``Runtime.maxMemory()``), or ``None``.

        Raises:
            SimulatorError: the JVM died or did not answer within ``timeout_s`` (it is killed).
        """
        if self.raw is None:
            return None
        jvm = self.raw._gateway.jvm
        return int(self.call("Runtime.maxMemory()", lambda: jvm.java.lang.Runtime.getRuntime().maxMemory()))

    def alive(self) -> bool:
        """``True`` when a JVM was started and its process is not known to have exited.

        A ``True`` does not prove the JVM answers (``Popen.poll()`` says nothing while py4j's
        process-consumer thread is reaping it); a failed :meth:`call` does prove it dead.
        """
        return self.raw is not None and self.raw._gateway.java_process.poll() is None

    def ensure(self) -> Any:
        """Return the running simulator, starting a fresh JVM if there is none or it exited.

        Raises:
            DependencyNotInstalled: ``scienceworld`` is missing or ``java`` is not on ``PATH``.
            SimulatorError: the JVM did not start.
        """
        if self.alive():
            return self.raw
        self.kill()  # reap an exited one
        cls = _raw_class()
        try:
            with _LAUNCH_LOCK, _java_options(self.max_heap):
                raw = cls(None, envStepLimit=2**31 - 1)  # truncation comes from TimeLimit
        except FileNotFoundError as e:
            raise DependencyNotInstalled(f"CoTDiag-ScienceWorld-v0 needs `java` (>= 11) on PATH: {e}") from e
        except Exception as e:
            raise SimulatorError(f"the ScienceWorld JVM did not start: {e!r}") from e
        self._apply_timeout(raw)
        self.raw = raw
        _LIVE.add(raw)
        logger.info("started ScienceWorld JVM (pid %d)", self.pid)
        return self.raw

    def _apply_timeout(self, raw: Any) -> None:
        """Give every later py4j connection of ``raw`` a socket timeout of ``timeout_s`` seconds.

        ScienceWorld builds its own ``GatewayParameters``; py4j reads ``read_timeout`` from them
        when it opens a connection (``GatewayConnection.__init__``), so the connections already
        pooled (opened during start-up, without timeout) are closed; the client opens new ones on
        demand.
        """
        if self.timeout_s is None:
            return
        gateway = raw._gateway
        gateway.gateway_parameters.read_timeout = self.timeout_s
        gateway._gateway_client.close()

    def call(self, what: str, fn: Callable[..., T], *args: Any) -> T:
        """Return ``fn(*args)``, a function making simulator calls; a connection failure kills the JVM.

        Java exceptions (``Py4JJavaError``: the JVM is fine) and errors raised in Python before any
        call (e.g. ScienceWorld's ``ValueError`` on an unknown task) propagate unchanged.

        Args:
            what: the operation, for error messages (``"step('look around')"``).

        Raises:
            SimulatorError: no JVM is running, or it died (connection refused or reset, empty
                answer) or did not answer one round trip within ``timeout_s`` seconds (frozen or
                overloaded); the JVM was killed and reaped, so :meth:`ensure` starts a fresh one.
        """
        if self.raw is None:
            raise SimulatorError(f"no ScienceWorld JVM is running for {what}; call reset()")
        start = time.monotonic()
        try:
            return fn(*args)
        except Exception as e:
            if not _is_connection_error(e):
                raise
            elapsed = time.monotonic() - start
            pid = self.pid
            logger.warning("ScienceWorld JVM (pid %s) failed during %s after %.1f s: %r; killing it",
                           pid, what, elapsed, e)
            self.kill()
            if self.timeout_s is not None and elapsed >= self.timeout_s:
                cause = (f"did not answer within simulator_timeout_s={self.timeout_s:g} s during "
                         f"{what} (frozen or overloaded); it was killed")
            else:
                cause = f"died during {what}: {e!r}"
            raise SimulatorError(
                f"the ScienceWorld JVM (pid {pid}) {cause}; the next reset() starts a fresh one"
            ) from e

    def kill(self) -> None:
        """``SIGKILL`` the JVM (no shutdown request), reap it and drop it (idempotent)."""
        raw, self.raw = self.raw, None
        if raw is not None:
            raw.kill()

    def close(self) -> None:
        """Shut the JVM down and reap it (idempotent; works on a dead JVM)."""
        raw, self.raw = self.raw, None
        if raw is not None:
            raw.close()
