"""The env factory of a run that decodes through the study's decoding wrapper."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym

from cotdiag.response.protocol import DecodingProtocol


@dataclass(frozen=True)
class DecodedEnvFactory:
    """``make_env(**kwargs)`` for :func:`cotdiag.rollout.evaluate`: ``gym.make``, then, when ``mode``
    is set, :class:`~cotdiag.wrappers.DecodingModeWrapper` in that mode.

    A frozen dataclass, so a run records it field by field (:func:`cotdiag.rollout.describe_factory`:
    a resumed run with another mode or history refuses) and the Ray backend can pickle it.

    Attributes:
        env_id: registered Gymnasium id.
        mode: ``"prompt"``, ``"cot"``, or ``None`` (the raw env).
        history_window: past steps shown in the prompt (``None``: all; ``0``: none).
        max_episode_steps: step limit (``None``: the registration's).
        history_keep_first: always show the episode's first observation.
        protocol: a :class:`~cotdiag.response.protocol.DecodingProtocol`; when set it replaces
            ``history_window``, ``history_keep_first``, ``show_admissible`` and ``history_max_chars``
            (e.g. the one saved with a checkpoint).
        show_admissible: list the admissible actions in the prompt.
        history_max_chars: character budget of the history (``None``: none).

    Example:
        >>> DecodedEnvFactory("CoTDiag-ALFWorld-v0", "cot", history_window=2)
        DecodedEnvFactory(env_id='CoTDiag-ALFWorld-v0', mode='cot', history_window=2, max_episode_steps=None, history_keep_first=True, protocol=None, show_admissible=False, history_max_chars=None)
    """

    env_id: str
    mode: str | None = None
    history_window: int | None = 3
    max_episode_steps: int | None = None
    history_keep_first: bool = True
    protocol: DecodingProtocol | None = None
    show_admissible: bool = False
    history_max_chars: int | None = None

    def __call__(self, **kwargs: Any) -> gym.Env:
        """Make the env (``kwargs``: constructor kwargs such as ``split``)."""
        from cotdiag.response import HistoryConfig
        from cotdiag.wrappers import DecodingModeWrapper

        env = gym.make(self.env_id, max_episode_steps=self.max_episode_steps, **kwargs)
        if self.mode is None:
            return env
        if self.protocol is not None:
            return DecodingModeWrapper(env, mode=self.mode, protocol=self.protocol)
        history = HistoryConfig(window=self.history_window, keep_first=self.history_keep_first,
                                max_chars=self.history_max_chars)
        return DecodingModeWrapper(env, mode=self.mode, history=history, show_admissible=self.show_admissible)
