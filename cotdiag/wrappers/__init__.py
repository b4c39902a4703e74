"""Gymnasium wrappers that put CoTDiag envs into the study's conditions (``gym.Wrapper`` subclasses only).

=============================== ===========================================================
wrapper                         condition
=============================== ===========================================================
:class:`DecodingModeWrapper`    the decoding mode: prompt action or CoT action (observation =
                                rendered prompt, action = the model's response, parsed)
:class:`ConflictingTraceWrapper` a conflicting reasoning trace injected before the action
:class:`AdmissibleActionWrapper` a discrete view over the admissible actions (SB3 policies)
=============================== ===========================================================

The response grammar they use lives in :mod:`cotdiag.response`; the PettingZoo reasoner–actor
game in :mod:`cotdiag.multiagent`; trace sources in :mod:`cotdiag.traces`. Definitions:
``docs/concepts.md`` (arXiv 2606.26935).
"""

from __future__ import annotations

from cotdiag.wrappers.admissible import AdmissibleActionWrapper, hashed_bag_of_words
from cotdiag.wrappers.conflicting import ConflictingTraceWrapper
from cotdiag.wrappers.decoding import FORMAT_ERROR_POLICIES, FORMAT_PENALTY, DecodingModeWrapper

__all__ = [
    "FORMAT_ERROR_POLICIES",
    "FORMAT_PENALTY",
    "AdmissibleActionWrapper",
    "ConflictingTraceWrapper",
    "DecodingModeWrapper",
    "hashed_bag_of_words",
]
