"""Stable-Baselines3 baseline: PPO over :class:`~cotdiag.wrappers.admissible.AdmissibleActionWrapper`.

The wrapper gives ``Discrete(K)`` actions over the current admissible actions and a ``Dict``
observation of hashed bags of words (``text`` ``(dim,)``, ``actions`` ``(K, dim)``,
``action_mask`` ``(K,)``). :class:`TextActionFeatures` (a ``BaseFeaturesExtractor``, plugged in
through ``policy_kwargs``) embeds the state text and each admissible action with small MLPs and
outputs ``[state_embedding, score_1..score_K]`` where ``score_i`` is the dot product of the state
and action embeddings (``-10`` on padding), the DRRN scoring of He et al. (ACL 2016) folded into a
features extractor, so SB3's linear action head can pick actions by score.

The trained model is saved as ``PATH/model.zip`` with ``PATH/cotdiag_sb3.json`` (env id, ``K``,
``dim``); ``sb3:PATH`` (:class:`SB3Policy`) plays it on the plain text env.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cotdiag.agents.base import BasePolicy
from cotdiag.error import InvalidConfigError

if TYPE_CHECKING:
    import gymnasium as gym

logger = logging.getLogger(__name__)


@dataclass
class SB3Config:
    """PPO over admissible actions."""

    total_timesteps: int = field(default=10_000, metadata={"help": "Environment steps of training.", "min": 1})
    max_actions: int = field(default=64, metadata={"help": "K: admissible actions kept per state.", "min": 1})
    dim: int = field(default=512, metadata={"help": "Hashed bag-of-words size."})
    hidden: int = field(default=64, metadata={"help": "Embedding width of the features extractor."})
    n_steps: int = field(
        default=256, metadata={"help": "PPO rollout length per update (capped at total_timesteps, so a short run "
                                       "trains exactly total_timesteps steps).", "min": 1})
    batch_size: int = field(default=64, metadata={"help": "PPO minibatch size."})
    learning_rate: float = field(default=1e-3, metadata={"help": "Adam learning rate."})
    ent_coef: float = field(default=0.01, metadata={"help": "Entropy bonus."})
    seed: int = field(default=0, metadata={"help": "Seed of PPO and the env."})

    def __post_init__(self) -> None:
        if self.total_timesteps < 1 or self.max_actions < 1 or self.dim < 1:
            raise InvalidConfigError(
                f"expected total_timesteps, max_actions, dim >= 1, got {self.total_timesteps}, "
                f"{self.max_actions}, {self.dim}"
            )


def _features_extractor_class() -> type:
    import torch
    from stable_baselines3.common.torch_layers import BaseFeaturesExtractor

    class TextActionFeatures(BaseFeaturesExtractor):
        """State and action embeddings and their dot-product scores (see module docstring).

        Input: the wrapper's ``Dict`` observation batch: ``text`` ``(B, dim)``, ``actions``
        ``(B, K, dim)``, ``action_mask`` ``(B, K)`` (float32). Output: ``(B, hidden + K)`` float32.
        """

        def __init__(self, observation_space: Any, hidden: int = 64) -> None:
            k, dim = observation_space["actions"].shape
            super().__init__(observation_space, features_dim=hidden + k)
            self.state = torch.nn.Sequential(torch.nn.Linear(dim, hidden), torch.nn.ReLU(),
                                             torch.nn.Linear(hidden, hidden))
            self.action = torch.nn.Sequential(torch.nn.Linear(dim, hidden), torch.nn.ReLU(),
                                              torch.nn.Linear(hidden, hidden))

        def forward(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
            s = self.state(obs["text"])  # (B, h)
            a = self.action(obs["actions"])  # (B, K, h)
            scores = torch.einsum("bh,bkh->bk", s, a) / s.shape[-1] ** 0.5
            scores = torch.where(obs["action_mask"] > 0, scores, torch.full_like(scores, -10.0))
            return torch.cat([s, scores], dim=-1)

    return TextActionFeatures


def make_ppo(env: gym.Env, config: SB3Config) -> Any:
    """A ``stable_baselines3.PPO`` with :class:`TextActionFeatures` on the wrapped ``env``."""
    from stable_baselines3 import PPO

    n_steps = min(config.n_steps, config.total_timesteps)
    return PPO(
        "MultiInputPolicy", env, n_steps=n_steps, batch_size=min(config.batch_size, n_steps),
        learning_rate=config.learning_rate, ent_coef=config.ent_coef, seed=config.seed, verbose=0, device="cpu",
        policy_kwargs={"features_extractor_class": _features_extractor_class(),
                       "features_extractor_kwargs": {"hidden": config.hidden},
                       "net_arch": {"pi": [], "vf": [64]}},
    )


def train_sb3(env_id: str, config: SB3Config, out_dir: str | Path, *, split: str | None = None,
              make_env: Any = None, progress_bar: bool = False) -> dict[str, Any]:
    """Train PPO on ``env_id`` (through the admissible-actions wrapper) and save it to ``out_dir``.

    Args:
        env_id: registered env id (its ``info["admissible_actions"]`` must be a list).
        config: PPO settings.
        out_dir: receives ``model.zip`` and ``cotdiag_sb3.json``.
        split: env split.
        make_env: ``make_env() -> gym.Env`` (text env) instead of ``gym.make(env_id, split=split)``.
        progress_bar: show SB3's progress bar (tqdm/rich) during ``learn``.

    Returns:
        ``{"path": str, "timesteps": int}``.
    """
    import gymnasium as gym

    from cotdiag.wrappers.admissible import AdmissibleActionWrapper

    base = make_env() if make_env is not None else gym.make(env_id, **({"split": split} if split else {}))
    env = AdmissibleActionWrapper(base, max_actions=config.max_actions, dim=config.dim)
    model = make_ppo(env, config)
    model.learn(total_timesteps=config.total_timesteps, progress_bar=progress_bar)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save(str(out / "model.zip"))
    (out / "cotdiag_sb3.json").write_text(json.dumps({"env_id": env_id, "split": split, **asdict(config)},
                                                      indent=2) + "\n")
    env.close()
    return {"path": str(out), "timesteps": int(model.num_timesteps)}


class SB3Policy(BasePolicy):
    """Play a PPO model trained by :func:`train_sb3` on the plain text env (``sb3:PATH``).

    The observation and ``info["admissible_actions"]`` are encoded exactly as
    :class:`~cotdiag.wrappers.admissible.AdmissibleActionWrapper` does.

    Args:
        path: directory with ``model.zip`` and ``cotdiag_sb3.json``.
        deterministic: argmax action (``True``) or sample (``False``).

    Raises:
        cotdiag.error.DataNotFoundError: the files are missing.
    """

    name = "sb3"

    def __init__(self, path: str | Path, deterministic: bool = True) -> None:
        from stable_baselines3 import PPO

        from cotdiag.error import DataNotFoundError

        p = Path(path)
        if not (p / "model.zip").is_file() or not (p / "cotdiag_sb3.json").is_file():
            raise DataNotFoundError(f"expected {p}/model.zip and {p}/cotdiag_sb3.json (from `cotdiag train sb3`)")
        meta = json.loads((p / "cotdiag_sb3.json").read_text())
        self.k, self.dim = int(meta["max_actions"]), int(meta["dim"])
        self.model = PPO.load(str(p / "model.zip"), device="cpu",
                              custom_objects={"policy_kwargs": {
                                  "features_extractor_class": _features_extractor_class(),
                                  "features_extractor_kwargs": {"hidden": int(meta["hidden"])},
                                  "net_arch": {"pi": [], "vf": [64]}}})
        self.deterministic = deterministic
        self.name = f"sb3:{path}"

    def encode(self, observation: str, info: dict[str, Any]) -> tuple[dict[str, np.ndarray], list[str]]:
        """The wrapper's observation for ``(observation, info)`` and the kept admissible actions."""
        from cotdiag.wrappers.admissible import hashed_bag_of_words

        actions = list((info.get("admissible_actions") or [])[: self.k])
        mask = np.zeros(self.k, dtype=np.int8)
        mask[: len(actions)] = 1
        acts = np.zeros((self.k, self.dim), dtype=np.float32)
        for i, a in enumerate(actions):
            acts[i] = hashed_bag_of_words(a, self.dim)
        text = hashed_bag_of_words(f"{info.get('task', '')}\n{observation}", self.dim)
        return {"text": text, "actions": acts, "action_mask": mask}, actions

    def act(self, observation: str, info: dict[str, Any]) -> str:
        obs, actions = self.encode(observation, info)
        i, _ = self.model.predict(obs, deterministic=self.deterministic)
        i = int(i)
        return actions[i] if i < len(actions) else ""


def make_sb3_policy(arg: str, seed: int | None, **kwargs: Any) -> SB3Policy:
    """Factory of ``sb3:PATH`` for :func:`cotdiag.agents.registry.make_policy`."""
    if not arg:
        raise InvalidConfigError("expected sb3:PATH, got an empty path")
    return SB3Policy(arg, **kwargs)
