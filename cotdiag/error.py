"""The one small exception hierarchy of CoTDiag.

Every error raised on purpose by the library derives from :class:`CoTDiagError`, so callers can
catch the library's errors without catching programming errors (``KeyError``, ``AttributeError``).
"""

from __future__ import annotations


class CoTDiagError(Exception):
    """Base class of every error CoTDiag raises on purpose."""


class DependencyNotInstalled(CoTDiagError, ImportError):
    """A simulator or optional package is missing; the message names the pip package or extra."""


class DataNotFoundError(CoTDiagError, FileNotFoundError):
    """Simulator data (games, tasks) is missing; the message names the variable and path tried."""


class InvalidConfigError(CoTDiagError, ValueError):
    """An argument or input value is invalid (out of range, unknown name, inconsistent lengths);
    the message says what was expected."""


class InvalidTypeError(CoTDiagError, TypeError):
    """An argument has the wrong type; the message names the expected type."""


class ConversionError(CoTDiagError, RuntimeError):
    """A model conversion (GGUF to a Hugging Face checkpoint) produced something incomplete."""


class RunNotFoundError(CoTDiagError, FileNotFoundError):
    """A results directory holds no run to read (e.g. ``leaderboard show`` before ``run``)."""


class ResultsMismatchError(CoTDiagError):
    """An existing run directory was written with a different configuration and cannot resume."""


class SimulatorError(CoTDiagError):
    """The simulator behind an env failed (e.g. ScienceWorld's JVM died); ``reset()`` recovers."""


class UnknownTaskError(CoTDiagError, KeyError):
    """A task id is not in the env's split (``reset(options={"task_id": ...})``)."""

    def __str__(self) -> str:  # KeyError's str() would quote the whole message
        return str(self.args[0]) if self.args else ""
