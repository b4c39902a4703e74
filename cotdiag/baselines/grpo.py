"""GRPO on environment reward, on TRL's ``GRPOTrainer``.

Design (what we built and why):

* **Single-step replay** (``--rollout step``, the default). Each training prompt is a recorded decision state
  of the expert dataset (:mod:`cotdiag.baselines.data`: ``task_id``, ``seed``, ``actions_before``).
  :class:`StepRollout` (TRL's public ``rollout_func``) samples one completion per prompt;
  :class:`EnvReplayReward` parses each completion with :func:`cotdiag.response.parse_response`,
  replays the episode prefix in a fresh env (``reset(seed, task_id)`` then ``actions_before``;
  none of the simulators can restore a saved state) and executes the parsed action. The reward is
  the env's reward for that step plus ``success_bonus`` when the step wins; a completion that does
  not parse gets the study's format penalty ``-0.1``. Results are cached per
  ``(task_id, seed, prefix, action)``, since a group of ``G`` completions often repeats an action.
  Replay keeps every group on the *same* state, which is what GRPO's group-relative advantage
  assumes and what the study's per-decision GRPO reward needs; ALFWorld's sparse reward means
  single-step replay gives a signal mainly near the goal, so :attr:`EnvReplayReward.expert_bonus`
  (default 0) adds optional dense shaping for small runs.
* **Whole episodes** (``--rollout episode``): :func:`train_episode_grpo` plays ``G`` episodes per
  task and seed with another ``rollout_func`` and rewards the episode; see
  :mod:`cotdiag.baselines.episodes`.
* **Action masking in the policy loss**, one path for both: the ``rollout_func`` returns TRL's
  ``env_mask`` (its per-token loss mask, multiplied into ``completion_mask`` in the loss), 0 on the
  action tokens (between the action tags; :func:`action_token_mask`) of a seeded random fraction
  ``k`` of completions (step) or episodes (episode). Advantages are unchanged, as in the study.
  TRL's loss normalisation counts only unmasked tokens. No private ``GRPOTrainer`` method is
  overridden; both paths use the trainer as TRL ships it.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from trl import GRPOConfig, GRPOTrainer

from cotdiag.baselines.episodes import (
    EpisodeReward,
    EpisodeRollout,
    action_token_mask,
    episode_dataset,
)
from cotdiag.baselines.precision import auto_bf16
from cotdiag.baselines.sampling import sample_completions
from cotdiag.error import InvalidConfigError
from cotdiag.response.format import DEFAULT_FORMAT, ResponseFormat
from cotdiag.response.parsing import parse_response
from cotdiag.response.prompt import build_model_text
from cotdiag.wrappers.decoding import FORMAT_PENALTY

if TYPE_CHECKING:
    import gymnasium as gym
    from datasets import Dataset

logger = logging.getLogger(__name__)


@dataclass
class ActionMaskGRPOConfig(GRPOConfig):
    """TRL ``GRPOConfig`` plus reduced action supervision and CoTDiag defaults.

    Defaults changed from ``GRPOConfig`` (the study's GRPO: 200 steps, group 8, batch 32, KL 0.01;
    ``cotdiag train grpo`` takes every field as an option): ``max_steps=200``,
    ``per_device_train_batch_size=32`` (with TRL's ``num_generations=8``: four prompts per step),
    ``beta=0.01``, ``max_completion_length=256``, ``logging_steps=1``, ``save_steps=50``, ``bf16``
    only on supporting GPUs, ``report_to="none"``, ``remove_unused_columns=False`` (the reward reads
    the replay columns), ``save_strategy="steps"``. The -0.1 format penalty is
    :class:`EnvReplayReward`'s.
    """

    action_mask_ratio: float = field(
        default=0.0, metadata={"help": "Fraction k of completions whose action tokens get no policy loss."}
    )
    success_bonus: float = field(default=1.0, metadata={"help": "Reward added when the action wins the episode."})
    expert_bonus: float = field(
        default=0.0, metadata={"help": "Optional shaping: reward added when the action equals the expert's."}
    )
    beta: float = field(default=0.01, metadata={"help": "KL coefficient (the study: 0.01)."})
    max_steps: int = field(default=200, metadata={"help": "Optimizer steps (the study: 200)."})
    per_device_train_batch_size: int = field(default=32, metadata={"help": "Completions per device per step (the study: 32)."})
    max_completion_length: int | None = field(default=256, metadata={"help": "Generation budget per completion, in tokens."})
    logging_steps: float = field(default=1, metadata={"help": "Log every this many steps."})
    save_steps: float = field(default=50, metadata={"help": "Checkpoint interval in optimizer steps."})
    report_to: str = field(default="none", metadata={"help": "Experiment tracker: 'none', 'all' or one name (wandb, tensorboard, ...)."})
    remove_unused_columns: bool = field(default=False, metadata={"help": "Keep replay columns (must stay False)."})
    save_strategy: str = field(default="steps", metadata={"help": "Checkpoint strategy."})
    bf16: bool | None = field(default=None, metadata={"help": "bfloat16 (None: on GPUs that support it)."})

    def __post_init__(self) -> None:
        if self.bf16 is None:
            self.bf16 = auto_bf16()
        if not 0.0 <= float(self.action_mask_ratio) <= 1.0:
            raise InvalidConfigError(f"expected action_mask_ratio in [0, 1], got {self.action_mask_ratio!r}")
        super().__post_init__()


class EnvReplayReward:
    """TRL reward function: replay the recorded state, execute the parsed action, return the reward.

    Args:
        make_env: ``make_env(env_id) -> gym.Env`` (default ``gym.make(env_id, split=split)``).
        split: env split of the dataset's states.
        success_bonus: added when the action wins the episode.
        expert_bonus: added when the action equals the expert action (``0``: pure env reward).
        format_penalty: reward of a completion that does not parse (``-0.1``).
        fmt: the response tags.

    Call signature (TRL): ``reward(prompts, completions, *, task_id, seed, actions_before, action,
    env, **kwargs) -> list[float]`` (the dataset columns arrive as keyword lists).
    """

    __name__ = "env_replay_reward"

    def __init__(self, make_env: Callable[[str], gym.Env] | None = None, *, split: str | None = None,
                 success_bonus: float = 1.0, expert_bonus: float = 0.0, format_penalty: float = FORMAT_PENALTY,
                 fmt: ResponseFormat = DEFAULT_FORMAT) -> None:
        self._make_env = make_env
        self.split = split
        self.success_bonus = success_bonus
        self.expert_bonus = expert_bonus
        self.format_penalty = format_penalty
        self.fmt = fmt
        self._envs: dict[str, gym.Env] = {}
        self._cache: dict[tuple, tuple[float, bool]] = {}
        #: Replays executed (cache misses).
        self.replays = 0

    def _env(self, env_id: str) -> gym.Env:
        if env_id not in self._envs:
            if self._make_env is not None:
                self._envs[env_id] = self._make_env(env_id)
            else:
                import gymnasium as gym

                kw = {"split": self.split} if self.split else {}
                self._envs[env_id] = gym.make(env_id, **kw)
        return self._envs[env_id]

    def replay(self, env_id: str, task_id: str, seed: int, prefix: Sequence[str], action: str) -> tuple[float, bool]:
        """``(reward, won)`` of ``action`` after replaying ``prefix`` from ``reset(seed, task_id)``."""
        key = (env_id, task_id, int(seed), tuple(prefix), action)
        if key not in self._cache:
            env = self._env(env_id)
            env.reset(seed=int(seed), options={"task_id": task_id})
            for a in prefix:
                env.step(a)
            _, r, _term, _trunc, info = env.step(action)
            self.replays += 1
            self._cache[key] = (float(r), bool(info.get("won", False)))
        return self._cache[key]

    def __call__(self, prompts: list[Any], completions: list[Any], **kw: Any) -> list[float]:
        out = []
        for i, completion in enumerate(completions):
            text = completion if isinstance(completion, str) else completion[-1]["content"]
            res = parse_response(text, mode="cot", fmt=self.fmt)
            if res.status != "ok" or not res.action:
                out.append(self.format_penalty)
                continue
            r, won = self.replay(kw["env"][i], kw["task_id"][i], kw["seed"][i], kw["actions_before"][i], res.action)
            bonus = self.success_bonus * won + self.expert_bonus * (res.action == kw["action"][i])
            out.append(r + bonus)
        return out

    def close(self) -> None:
        """Close the replay envs."""
        for env in self._envs.values():
            env.close()
        self._envs.clear()


class StepRollout:
    """TRL ``rollout_func`` of single-step replay: one sampled completion per recorded state.

    TRL passes the batch's prompts (each state's model input, repeated ``num_generations`` times);
    this samples them in one batch (:func:`cotdiag.baselines.sampling.sample_completions`, ending at
    the end-of-sequence token as TRL's own generation does) and returns the ``env_mask`` that
    leaves the action tokens of a seeded fraction ``k`` of completions out of the loss.

    Args:
        max_new_tokens: generation budget per completion (the config's ``max_completion_length``).
        action_mask_ratio: fraction ``k`` of completions whose action tokens get no loss.
        seed: seed of the masked-completion draw.
        fmt: the response tags.

    Attributes:
        masked_log: ``[(global_step, n_masked, n_completions)]``, one per call.
    """

    def __init__(self, max_new_tokens: int, action_mask_ratio: float = 0.0, seed: int = 0,
                 fmt: ResponseFormat = DEFAULT_FORMAT) -> None:
        self.max_new_tokens, self.action_mask_ratio, self.fmt = int(max_new_tokens), float(action_mask_ratio), fmt
        self._rng = np.random.default_rng(seed)
        self.masked_log: list[tuple[int, int, int]] = []

    def __call__(self, prompts: Sequence[Any], trainer: Any) -> dict[str, list[Any]]:
        """``{"prompt_ids", "completion_ids", "logprobs", "env_mask"}``, one entry per prompt (``list[int]``
        token ids, ``list[float]`` log-probabilities, ``list[int]`` 0/1 loss mask of the completion)."""
        tok = trainer.processing_class
        prompt_ids = [tok(p, add_special_tokens=False)["input_ids"] for p in prompts]
        sampled = sample_completions(trainer, prompt_ids, self.max_new_tokens, stop_at_action=False, fmt=self.fmt)
        chosen = self._rng.random(len(prompts)) < self.action_mask_ratio
        masks = [[1 - a for a in action_token_mask(tok, ids, self.fmt)] if c else [1] * len(ids)
                 for (ids, _), c in zip(sampled, chosen, strict=True)]
        self.masked_log.append((int(trainer.state.global_step), int(chosen.sum()), len(prompts)))
        return {"prompt_ids": prompt_ids, "completion_ids": [ids for ids, _ in sampled],
                "logprobs": [lps for _, lps in sampled], "env_mask": masks}


def grpo_dataset(dataset: Dataset, tokenizer: Any) -> Dataset:
    """Map the expert dataset's ``prompt`` to the exact model input (``build_model_text``)."""
    return dataset.map(lambda ex: {"prompt": build_model_text(tokenizer, ex["prompt"], "")})


def train_grpo(
    dataset: Dataset,
    model: str,
    config: ActionMaskGRPOConfig,
    *,
    reward: EnvReplayReward | None = None,
    extra_reward_funcs: list[Callable[..., list[float]]] | None = None,
    callbacks: list[Any] | None = None,
) -> dict[str, Any]:
    """GRPO from ``model`` on the decision states of ``dataset`` with environment reward.

    Args:
        dataset: expert dataset (:func:`cotdiag.baselines.data.build_dataset`) saved with its
            ``cotdiag_data.json`` (the split is read from ``dataset.info`` when absent in ``reward``).
        model: a model path (e.g. an SFT output), hub id or named model (``"smollm2-135m"``).
        config: training arguments (``output_dir`` receives checkpoints and the final model).
        reward: the reward function (default: :class:`EnvReplayReward` with the config's bonuses).
        extra_reward_funcs: more TRL reward functions, summed with ``reward`` (TRL's
            ``reward_weights`` apply).
        callbacks: extra ``transformers.TrainerCallback`` objects.

    Returns:
        ``{"output_dir", "steps", "log_history", "replays", "masked_log"}``.
    """
    from transformers import AutoTokenizer

    from cotdiag.agents.pretrained import load_causal_lm
    from cotdiag.baselines.tiny import load_or_build_model

    model = load_or_build_model(model, dataset, Path(config.output_dir))  # "tiny": built from the data's text
    tokenizer = AutoTokenizer.from_pretrained(model)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    lm = load_causal_lm(model)
    reward = reward or EnvReplayReward(success_bonus=config.success_bonus, expert_bonus=config.expert_bonus)
    rollout = StepRollout(config.max_completion_length or 256, config.action_mask_ratio, config.seed)
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")  # rollout_func is experimental in TRL; we pin its use
    trainer = GRPOTrainer(model=lm, reward_funcs=[reward, *(extra_reward_funcs or [])], args=config,
                          train_dataset=grpo_dataset(dataset, tokenizer), processing_class=tokenizer,
                          callbacks=callbacks, rollout_func=rollout)
    result = trainer.train()
    out = Path(config.output_dir)
    trainer.save_model(str(out))
    tokenizer.save_pretrained(str(out))
    reward.close()
    return {"output_dir": str(out), "steps": int(result.global_step), "log_history": trainer.state.log_history,
            "replays": reward.replays, "masked_log": rollout.masked_log}


def train_episode_grpo(
    model: str,
    config: ActionMaskGRPOConfig,
    episode_args: Any,
    *,
    make_env: Callable[[], Any] | None = None,
    callbacks: list[Any] | None = None,
) -> dict[str, Any]:
    """GRPO on whole episodes the policy plays (TRL ``rollout_func``; see :mod:`cotdiag.baselines.episodes`).

    Args:
        model: a model path (e.g. an SFT output), hub id or named model (``"smollm2-135m"``).
        config: training arguments; ``action_mask_ratio`` masks the action tokens of that fraction of
            episodes, ``success_bonus`` weighs success in the reward.
        episode_args: a :class:`cotdiag.baselines.episodes.EpisodeArgs` (env, split, budgets).
        make_env: ``make_env()`` -> a chat :class:`~cotdiag.wrappers.DecodingModeWrapper` (default:
            :class:`~cotdiag.rollout.factory.DecodedEnvFactory` of ``episode_args`` with the checkpoint's
            decoding protocol, a conversation by default).
        callbacks: extra ``transformers.TrainerCallback`` objects.

    Returns:
        ``{"output_dir", "steps", "log_history", "episodes"}`` (``episodes``: one dict per episode
        played: task, seed, turns, success, score, format errors, end reason, masked).
    """
    from transformers import AutoTokenizer

    from cotdiag.agents.pretrained import load_causal_lm, resolve_model
    from cotdiag.response.protocol import DecodingProtocol, load_protocol
    from cotdiag.rollout.factory import DecodedEnvFactory

    a = episode_args
    path = resolve_model(model)
    if make_env is None:  # the checkpoint's protocol (a conversation by default), as in SFT and evaluation
        protocol = (load_protocol(path) if Path(path).is_dir() else None) or DecodingProtocol()
        make_env = functools.partial(DecodedEnvFactory(a.env_id, a.episode_mode, protocol=protocol),
                                     **({} if a.split is None else {"split": a.split}))
    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    dataset, specs = episode_dataset(make_env, tokenizer, a.episodes, config.seed)
    rollout = EpisodeRollout(specs, make_env, max_turns=a.max_turns, max_turn_tokens=a.max_turn_tokens,
                             max_episode_tokens=a.max_episode_tokens, action_mask_ratio=config.action_mask_ratio,
                             seed=config.seed)
    reward = EpisodeReward(success_bonus=config.success_bonus, score_weight=a.score_weight, format_penalty=FORMAT_PENALTY)
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")  # rollout_func is experimental in TRL; we pin its use
    trainer = GRPOTrainer(model=load_causal_lm(path), reward_funcs=[reward], args=config,
                          train_dataset=dataset, processing_class=tokenizer, callbacks=callbacks, rollout_func=rollout)
    try:
        result = trainer.train()
    finally:
        rollout.close()
    out = Path(config.output_dir)
    trainer.save_model(str(out))
    tokenizer.save_pretrained(str(out))
    return {"output_dir": str(out), "steps": int(result.global_step), "log_history": trainer.state.log_history,
            "episodes": rollout.log}
