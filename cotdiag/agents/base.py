"""The policy interface: anything with ``act(observation, info) -> str`` plays a CoTDiag env."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from cotdiag.error import InvalidConfigError


@runtime_checkable
class Policy(Protocol):
    """A text policy.

    ``act`` maps one observation (``str``) and its ``info`` dict (the env's ``StepInfo``, plus keys
    added by wrappers) to one action string. ``act_batch`` does the same for a batch (vectorized
    envs); its output has the same length and order as its inputs.
    """

    name: str

    def reset(self, seed: int | None = None) -> None:
        """Start a new episode (re-seed any sampling)."""

    def act(self, observation: str, info: dict[str, Any]) -> str:
        """Return one action string for one observation."""

    def act_batch(self, observations: Sequence[str], infos: Sequence[dict[str, Any]]) -> list[str]:
        """Return one action string per observation (``len(result) == len(observations)``)."""


class BasePolicy:
    """Convenience base: subclasses implement :meth:`act`; :meth:`act_batch` loops over it."""

    name = "policy"

    def reset(self, seed: int | None = None) -> None:  # noqa: B027 - optional hook
        """Start a new episode; the default does nothing."""

    def act(self, observation: str, info: dict[str, Any]) -> str:
        raise NotImplementedError

    def act_batch(self, observations: Sequence[str], infos: Sequence[dict[str, Any]]) -> list[str]:
        """Call :meth:`act` on each pair; override for real batching (e.g. LLM generation)."""
        if len(observations) != len(infos):
            raise InvalidConfigError(f"expected as many infos as observations, got {len(infos)} and {len(observations)}")
        return [self.act(o, i) for o, i in zip(observations, infos, strict=True)]
