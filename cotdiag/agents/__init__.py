"""Policies that plug into CoTDiag environments."""

from __future__ import annotations

from cotdiag.agents.base import BasePolicy, Policy
from cotdiag.agents.expert import ExpertPolicy
from cotdiag.agents.hf import HFPolicy  # light: torch is imported when a model is built
from cotdiag.agents.random import RandomPolicy

__all__ = ["BasePolicy", "ExpertPolicy", "HFPolicy", "Policy", "RandomPolicy"]
