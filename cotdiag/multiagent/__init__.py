"""Multi-agent views of CoTDiag envs: the PettingZoo reasoner–actor game (:mod:`.reasoner_actor`)."""

from __future__ import annotations

from cotdiag.multiagent.reasoner_actor import ReasonerActorEnv, ReasonerActorParallelEnv

__all__ = ["ReasonerActorEnv", "ReasonerActorParallelEnv"]
