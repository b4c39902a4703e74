"""``AdmissibleActionWrapper``: a Stable-Baselines3-ready view of a text env.

Actions become ``Discrete(K)`` indices into the current admissible actions (padded to ``K``), and the
text becomes fixed-size hashed bag-of-words vectors, so ``stable_baselines3.common.env_checker
.check_env`` passes and any SB3 algorithm that supports ``Dict`` observations can train on it
(MaskablePPO from sb3-contrib can read ``info["action_mask"]`` / ``obs["action_mask"]``).
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from cotdiag.error import InvalidConfigError

_TOKEN = re.compile(r"[a-z0-9]+")


def hashed_bag_of_words(text: str, dim: int) -> np.ndarray:
    """Binary hashed bag of words of ``text``.

    Lower-cased alphanumeric tokens are hashed with CRC-32 (stable across processes, unlike
    ``hash``) into ``dim`` buckets; a bucket is 1.0 when any token falls in it (the "hashing trick",
    Weinberger et al., ICML 2009).

    Returns:
        ``np.ndarray`` of shape ``(dim,)``, dtype ``float32``, values in ``{0, 1}``.
    """
    out = np.zeros(dim, dtype=np.float32)
    for tok in _TOKEN.findall(text.lower()):
        out[zlib.crc32(tok.encode()) % dim] = 1.0
    return out


class AdmissibleActionWrapper(gym.Wrapper[dict, np.int64, str, str], gym.utils.RecordConstructorArgs):
    """Discrete actions over the current admissible actions, hashed bag-of-words observations.

    Args:
        env: a text env whose ``info["admissible_actions"]`` is a list (not ``None``).
        max_actions: ``K``, the size of the ``Discrete`` action space; admissible actions beyond the
            first ``K`` are dropped (``info["admissible_truncated"]`` says so).
        dim: size of each hashed bag-of-words vector.

    Observation space (``Dict``):
        ``"text"``: ``Box(0, 1, (dim,), float32)``, hashed bag of words of task + observation;
        ``"actions"``: ``Box(0, 1, (K, dim), float32)``, one row per admissible action (zero rows
        for padding); ``"action_mask"``: ``MultiBinary(K)``, 1 for real actions.

    Action space:
        ``Discrete(K)``. Index ``i < n`` plays the ``i``-th admissible action; a padding index sends
        ``""``, which every CoTDiag env records as an invalid action (the step counts).

    Info keys (added): ``action_mask`` (``np.int8`` array, shape ``(K,)``), ``admissible`` (the
    ``K``-padded list of action strings, ``""`` for padding), ``admissible_truncated`` (bool),
    ``text_action`` (the string sent, after ``step``).

    Raises:
        ValueError: ``max_actions`` or ``dim`` < 1; the env gives ``admissible_actions=None``.
    """

    def __init__(self, env: gym.Env[str, str], max_actions: int = 128, dim: int = 512) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, max_actions=max_actions, dim=dim)
        gym.Wrapper.__init__(self, env)
        if max_actions < 1 or dim < 1:
            raise InvalidConfigError(f"expected max_actions >= 1 and dim >= 1, got {max_actions} and {dim}")
        self.max_actions, self.dim = max_actions, dim
        self.action_space = spaces.Discrete(max_actions)
        self.observation_space = spaces.Dict({
            "text": spaces.Box(0.0, 1.0, (dim,), np.float32),
            "actions": spaces.Box(0.0, 1.0, (max_actions, dim), np.float32),
            "action_mask": spaces.MultiBinary(max_actions),
        })
        self._actions: list[str] = []

    def _encode(self, obs: str, info: dict[str, Any]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        adm: Sequence[str] | None = info.get("admissible_actions")
        if adm is None:
            raise InvalidConfigError("expected info['admissible_actions'] to be a list, got None (this env cannot enumerate actions)")
        self._actions = list(adm[: self.max_actions])
        n = len(self._actions)
        mask = np.zeros(self.max_actions, dtype=np.int8)
        mask[:n] = 1
        acts = np.zeros((self.max_actions, self.dim), dtype=np.float32)
        for i, a in enumerate(self._actions):
            acts[i] = hashed_bag_of_words(a, self.dim)
        text = hashed_bag_of_words(f"{info.get('task', '')}\n{obs}", self.dim)
        info = dict(info, action_mask=mask, admissible=self._actions + [""] * (self.max_actions - n),
                    admissible_truncated=len(adm) > self.max_actions)
        return {"text": text, "actions": acts, "action_mask": mask}, info

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[dict, dict[str, Any]]:
        """Reset the env and encode its first observation."""
        obs, info = self.env.reset(seed=seed, options=options)
        return self._encode(obs, info)

    def step(self, action: int | np.integer) -> tuple[dict, float, bool, bool, dict[str, Any]]:
        """Play admissible action ``action`` (an index in ``[0, K)``)."""
        i = int(action)
        text = self._actions[i] if 0 <= i < len(self._actions) else ""
        obs, reward, terminated, truncated, info = self.env.step(text)
        enc, info = self._encode(obs, info)
        info["text_action"] = text
        return enc, float(reward), terminated, truncated, info
