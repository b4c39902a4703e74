"""BFCL v4 as a Gymnasium text environment (``CoTDiag-BFCL-v0``)."""

from __future__ import annotations

from cotdiag.envs.bfcl.calls import END_OF_TURN, Call, CallSyntaxError, parse_calls
from cotdiag.envs.bfcl.data import (
    CATEGORIES,
    MULTI_TURN_CATEGORIES,
    OOD_CATEGORIES,
    SINGLE_TURN_CATEGORIES,
    SPLITS,
)
from cotdiag.envs.bfcl.env import BFCLEnv

__all__ = [
    "BFCLEnv",
    "CATEGORIES",
    "END_OF_TURN",
    "MULTI_TURN_CATEGORIES",
    "OOD_CATEGORIES",
    "SINGLE_TURN_CATEGORIES",
    "SPLITS",
    "Call",
    "CallSyntaxError",
    "parse_calls",
]
