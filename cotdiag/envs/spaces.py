"""Text spaces that accept any Unicode text.

Gymnasium's default :class:`gymnasium.spaces.Text` charset is letters and digits only, so it rejects
``"go to desk 1"``. CoTDiag observations and actions are free text produced by simulators and
language models, so :class:`UnicodeText` accepts any ``str`` up to ``max_length`` characters.
"""

from __future__ import annotations

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
