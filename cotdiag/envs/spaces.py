"""Text spaces that accept any Unicode text.

Gymnasium's default :class:`gymnasium.spaces.Text` charset is letters and digits only, so it rejects
``"go to desk 1"``. CoTDiag observations and actions are free text produced by simulators and
language models, so :class:`UnicodeText` accepts any ``str`` up to ``max_length`` characters.
"""

from __future__ import annotations

import multiprocessing as mp
import string
from typing import Any

import numpy as np
from gymnasium import spaces

#: Default maximum length (in characters) of an observation or action string.
MAX_TEXT_LENGTH = 100_000

#: Characters used when *sampling* random strings (sampling is only for Gymnasium's env checker).
_SAMPLE_CHARSET = string.ascii_letters + string.digits + string.punctuation + " "


class UnicodeText(spaces.Text):
    """A ``Text`` space whose ``contains`` accepts any Unicode string of length ``<= max_length``.

    Args:
        max_length: maximum number of characters (Python ``len``), inclusive.
        min_length: minimum number of characters, inclusive (default 0).

    ``sample()`` draws printable ASCII (Gymnasium needs a finite charset to sample from);
    ``contains()`` does not restrict characters at all: ``"préchauffer le four\\n"`` is contained.

    Example:
        >>> UnicodeText(20).contains("go to desk 1")
        True
        >>> UnicodeText(5).contains("go to desk 1")
        False
    """

    def __init__(self, max_length: int = MAX_TEXT_LENGTH, *, min_length: int = 0, seed: Any = None):
        super().__init__(max_length, min_length=min_length, charset=_SAMPLE_CHARSET, seed=seed)

    def contains(self, x: Any) -> bool:
        """Return ``True`` if ``x`` is a ``str`` (or numpy str) of allowed length."""
        if isinstance(x, np.str_):
            x = str(x)
        return isinstance(x, str) and self.min_length <= len(x) <= self.max_length

    def __repr__(self) -> str:
        return f"UnicodeText({self.min_length}, {self.max_length})"

    def __eq__(self, other: Any) -> bool:
        return (
            isinstance(other, UnicodeText)
            and self.min_length == other.min_length
            and self.max_length == other.max_length
        )


# ---------------------------------------------------------------- vectorized envs (shared memory)
# ``AsyncVectorEnv`` moves observations through shared memory. Gymnasium's ``Text`` handlers store
# indices into the space's (sampling) charset and silently drop any other character, which would
# corrupt free text. These ``singledispatch`` registrations store Unicode code points instead:
# one ``int32`` row of ``max_length + 1`` per env, ``[length, ord(c0), ord(c1), ...]``.
# ``batch_space`` / ``concatenate`` / ``create_empty_array`` of ``Text`` already give tuples of str.
from collections.abc import Sequence  # noqa: E402

from gymnasium.vector.utils import (  # noqa: E402
    create_shared_memory,
    read_from_shared_memory,
    write_to_shared_memory,
)

from cotdiag.error import InvalidConfigError  # noqa: E402


@create_shared_memory.register(UnicodeText)
def _create_unicode_shared_memory(space: UnicodeText, n: int = 1, ctx: Any = None) -> Any:
    return (ctx or mp).Array(np.dtype(np.int32).char, n * (space.max_length + 1))


class SharedTextBatch(Sequence):
    """A live, read-only view of ``n`` strings in shared memory (what ``AsyncVectorEnv`` returns).

    ``AsyncVectorEnv`` reads its shared observation buffer once and relies on the result being a
    view (as numpy arrays are), so this is a sequence that decodes on access. ``copy.deepcopy``
    (the default ``copy=True`` of ``AsyncVectorEnv``) and ``tuple(view)`` give a plain
    ``tuple[str, ...]``.
    """

    def __init__(self, data: np.ndarray) -> None:
        self._data = data  # shape (n, max_length + 1), int32 code points with a length prefix

    def __len__(self) -> int:
        return len(self._data)

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return tuple(self[j] for j in range(*i.indices(len(self))))
        row = self._data[i]
        return "".join(map(chr, row[1 : 1 + int(row[0])].tolist()))

    def __deepcopy__(self, memo: dict) -> tuple[str, ...]:
        return tuple(self)

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, (tuple, list, SharedTextBatch)) and tuple(self) == tuple(other)

    def __repr__(self) -> str:
        return f"SharedTextBatch({tuple(self)!r})"


@read_from_shared_memory.register(UnicodeText)
def _read_unicode_from_shared_memory(space: UnicodeText, shared_memory: Any, n: int = 1) -> SharedTextBatch:
    return SharedTextBatch(np.frombuffer(shared_memory.get_obj(), dtype=np.int32).reshape((n, space.max_length + 1)))


@write_to_shared_memory.register(UnicodeText)
def _write_unicode_to_shared_memory(space: UnicodeText, index: int, value: str, shared_memory: Any) -> None:
    size = space.max_length + 1
    if len(value) > space.max_length:
        raise InvalidConfigError(f"expected a str of at most {space.max_length} characters, got {len(value)}")
    dest = np.frombuffer(shared_memory.get_obj(), dtype=np.int32)
    row = dest[index * size : (index + 1) * size]
    row[0] = len(value)
    row[1 : 1 + len(value)] = np.fromiter(map(ord, value), dtype=np.int32, count=len(value))
