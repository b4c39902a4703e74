"""How an env wants action strings normalized before they reach its simulator or are compared.

An env declares it with a class attribute ``action_normalization`` (default: strip surrounding
whitespace and collapse internal runs of whitespace, case kept). The decoding wrapper, the
reasoner/actor game and the diagnostics read it with
:func:`cotdiag.response.parsing.normalization_for`. Per env:

* ALFWorld: the TextWorld engine strips the command and matches it exactly, case-sensitive, against
  the admissible commands, so the default applies (collapsing internal whitespace only ever turns a
  non-matching command into a matching one: no admissible ALFWorld command has double spaces).
* ScienceWorld: the default (its parser splits the command into words).
* BFCL: strip only. Calls carry string arguments whose whitespace is significant
  (``echo(content='a  b\\n c')``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_WS = re.compile(r"\s+")


@dataclass(frozen=True)
class ActionNormalization:
    """How an action string is normalized before it reaches the simulator or is compared.

    Attributes:
        strip: remove surrounding whitespace.
        collapse_whitespace: replace every run of whitespace by one space.
        lowercase: lower-case the action (only for simulators that match case-insensitively).
    """

    strip: bool = True
    collapse_whitespace: bool = True
    lowercase: bool = False

    def __call__(self, action: str) -> str:
        """Return the normalized ``action``.

        Example:
            >>> ActionNormalization()("  go to   desk 1\\n")
            'go to desk 1'
            >>> ActionNormalization(collapse_whitespace=False)(" echo(content='a  b') ")
            "echo(content='a  b')"
            >>> ActionNormalization(lowercase=True)("Go To Desk 1")
            'go to desk 1'
        """
        if self.collapse_whitespace:
            action = _WS.sub(" ", action)
        if self.strip:
            action = action.strip()
        if self.lowercase:
            action = action.lower()
        return action


#: Strip + collapse whitespace, case kept (ALFWorld, ScienceWorld, and any env that declares nothing).
DEFAULT_NORMALIZATION = ActionNormalization()
