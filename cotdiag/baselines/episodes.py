"""Whole episodes as GRPO completions: TRL's ``rollout_func`` for multi-turn agent RL.

``cotdiag train grpo --rollout episode`` trains on episodes the policy plays itself, as agent-RL
recipes on ALFWorld do (verl-agent's GRPO, RAGEN): each training prompt is an episode spec
``(task_id, seed)``; TRL's sampler repeats it ``num_generations`` times, so a group is ``G``
episodes of the same task and seed, and the episode's reward is normalized within the group.

The episode is one token sequence, a growing conversation (so the tokens the policy was sampled
from are exactly the tokens it is trained on):

* the prompt is the first turn, rendered by the one renderer (:func:`cotdiag.response.build_model_text`
  of the decoding wrapper's messages: instructions, task, first observation), as in SFT and inference;
* the completion is ``response_1 + feedback_2 + response_2 + ...``, where ``feedback_t`` closes the
  assistant turn and opens a user turn with the decoding wrapper's next user message (task and
  current observation, or the format-error notice) and the next prefill.

Per-token loss mask (TRL's ``env_mask``, multiplied into the loss): ``feedback_t`` tokens are
never trained (observation masking, as in AutoCoA); on a seeded fraction ``k`` of episodes the
action tokens of every turn (between the action tags; the tags and the reasoning stay trained)
are masked too, as in the SFT collator; advantages are unchanged.

An episode ends when the env terminates or truncates (``"terminated"``, ``"truncated"``), after
``max_turns`` turns (``"max_turns"``), or when the next turn would exceed ``max_episode_tokens``
completion tokens (``"max_episode_tokens"``); the reason is recorded. A response that used its
whole ``max_turn_tokens`` budget (cut before closing its action) is counted per episode in
``turn_budget_hits``. Generation is batched across all
live episodes of the batch (HF ``generate``; vLLM is not wired for multi-turn rollouts yet).

Known difference from evaluation: :class:`~cotdiag.wrappers.DecodingModeWrapper` re-renders each
step's prompt with a history window, while here later turns see the whole conversation. A chat
template that rewrites earlier assistant turns (Qwen3 drops old ``<think>`` blocks) cannot be used
(:class:`~cotdiag.error.InvalidConfigError`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cotdiag.baselines.sampling import sample_completions
from cotdiag.error import InvalidConfigError
from cotdiag.response.format import DEFAULT_FORMAT, ResponseFormat
from cotdiag.response.prompt import build_model_text, has_chat_template
from cotdiag.response.protocol import span_token_mask

logger = logging.getLogger(__name__)

#: Why an episode ended.
END_REASONS: tuple[str, ...] = ("terminated", "truncated", "max_turns", "max_episode_tokens")


@dataclass
class Episode:
    """One episode in flight: its token sequence, masks and outcome."""

    task_id: str
    seed: int
    env: Any
    messages: list[dict[str, str]]
    prompt_ids: list[int]
    masked: bool
    completion_ids: list[int] = field(default_factory=list)
    env_mask: list[int] = field(default_factory=list)
    #: ``(kind, start, end)`` spans of ``completion_ids``: ``"response"`` or ``"feedback"``.
    segments: list[tuple[str, int, int]] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    turns: int = 0
    format_errors: int = 0
    #: responses that used their whole ``max_turn_tokens`` budget
    turn_budget_hits: int = 0
    success: bool = False
    score: float = 0.0
    end: str | None = None

    @property
    def context(self) -> list[int]:
        """Prompt and completion so far (``list[int]``): the next turn's model input."""
        return self.prompt_ids + self.completion_ids


def action_token_mask(tokenizer: Any, ids: Sequence[int], fmt: ResponseFormat = DEFAULT_FORMAT) -> list[int]:
    """1 on the completion tokens that overlap the action text between the first action tags.

    Character spans come from incremental decoding (``decode(ids[:j + 1])``), so any tokenizer works.

    Returns:
        ``list[int]`` of length ``len(ids)``; all zeros when the completion has no opening tag.
    """
    ends, text = [], ""
    for j in range(len(ids)):
        text = tokenizer.decode(list(ids[: j + 1]), skip_special_tokens=False)
        ends.append(len(text))
    k = text.find(fmt.action_open)
    if k < 0:
        return [0] * len(ids)
    a0 = k + len(fmt.action_open)
    c = text.find(fmt.action_close, a0)
    a1 = c if c >= 0 else len(text)
    return span_token_mask(list(zip([0, *ends[:-1]], ends, strict=True)), a0, a1)  # the protocol's span rule


def first_turn(env: Any, task_id: str, seed: int, tok: Any) -> tuple[list[dict[str, str]], list[int]]:
    """Reset ``env`` (a chat decoding wrapper) on the task; return its messages and the prompt's token ids.

    The prompt is :func:`cotdiag.response.build_model_text` of the wrapper's messages and prefill:
    the model input of an episode's first step in SFT data and at inference.
    """
    prompt, info = env.reset(seed=seed, options={"task_id": task_id})
    messages = list(info["messages"])
    text = build_model_text(tok, prompt, info["prefill"], messages=messages)
    return messages, tok(text, add_special_tokens=False)["input_ids"]


class EpisodeRollout:
    """TRL ``rollout_func``: every prompt of the batch becomes one episode played by the policy.

    Args:
        specs: ``{prompt: (task_id, seed)}`` for every prompt of the training dataset
            (:func:`episode_dataset` builds both).
        make_env: ``make_env() -> env``: a :class:`~cotdiag.wrappers.DecodingModeWrapper` with
            ``chat=True`` (one env per live episode, pooled across steps).
        max_turns: turns per episode at most.
        max_turn_tokens: generation budget of one turn (tokens).
        max_episode_tokens: completion tokens per episode at most (responses and feedback).
        action_mask_ratio: fraction ``k`` of episodes whose action tokens get no loss.
        seed: seed of the masked-episode draw.
        fmt: the response tags.

    Attributes:
        last_stats: ``{"episode/success", "episode/format_error_rate", "episode/turns",
            "episode/masked", "rollout/tokens_per_s", "rollout/env_steps_per_s"}`` of the last call.
        last_episodes: the :class:`Episode` objects of the last call (sequences, masks, segments).
        log: ``[{"task_id", "seed", "turns", "success", "end", ...}]``, one per episode played.
    """

    def __init__(self, specs: dict[str, tuple[str, int]], make_env: Callable[[], Any], *, max_turns: int = 20,
                 max_turn_tokens: int = 64, max_episode_tokens: int = 1024, action_mask_ratio: float = 0.0,
                 seed: int = 0, fmt: ResponseFormat = DEFAULT_FORMAT) -> None:
        if max_turns < 1 or max_turn_tokens < 1 or max_episode_tokens < max_turn_tokens:
            raise InvalidConfigError(f"expected max_turns >= 1 and max_episode_tokens >= max_turn_tokens >= 1, got "
                                     f"{max_turns}, {max_turn_tokens}, {max_episode_tokens}")
        self.specs, self.make_env, self.fmt = specs, make_env, fmt
        self.max_turns, self.max_turn_tokens, self.max_episode_tokens = max_turns, max_turn_tokens, max_episode_tokens
        self.action_mask_ratio = float(action_mask_ratio)
        self._rng = np.random.default_rng(seed)
        self._pool: list[Any] = []
        self.last_stats: dict[str, float] = {}
        self.last_episodes: list[Episode] = []
        self.log: list[dict[str, Any]] = []

    # ------------------------------------------------------------------ TRL entry point
    def __call__(self, prompts: Sequence[Any], trainer: Any) -> dict[str, Any]:
        """Play one episode per prompt; return TRL's rollout dict (ids, logprobs, ``env_mask``, outcomes)."""
        tok = trainer.processing_class
        t0, steps = time.perf_counter(), 0
        episodes = [self._start(i, p, tok) for i, p in enumerate(prompts)]
        generated = 0
        while live := [e for e in episodes if e.end is None]:
            responses = sample_completions(trainer, [e.context for e in live], self.max_turn_tokens,
                                           stop_at_action=True, fmt=self.fmt)
            for e, (ids, lps) in zip(live, responses, strict=True):
                generated += len(ids)
                steps += 1
                self._step(e, ids, lps, tok)
        self._record(episodes, generated, steps, time.perf_counter() - t0, trainer)
        self.last_episodes = episodes
        return {
            "prompt_ids": [e.prompt_ids for e in episodes],
            "completion_ids": [e.completion_ids for e in episodes],
            "logprobs": [e.logprobs for e in episodes],
            "env_mask": [e.env_mask for e in episodes],
            "episode_success": [e.success for e in episodes],
            "episode_score": [e.score for e in episodes],
            "format_errors": [e.format_errors for e in episodes],
            "turns": [e.turns for e in episodes],
        }

    # ------------------------------------------------------------------ one episode
    def _start(self, i: int, prompt: Any, tok: Any) -> Episode:
        if prompt not in self.specs:
            raise InvalidConfigError("a prompt of the batch is not in the episode specs (build it with episode_dataset)")
        task_id, seed = self.specs[prompt]
        while len(self._pool) <= i:
            self._pool.append(self.make_env())
        env = self._pool[i]
        messages, prompt_ids = first_turn(env, task_id, seed, tok)
        masked = bool(self._rng.random() < self.action_mask_ratio)
        if not has_chat_template(tok) and not getattr(self, "_said_plain", False):
            self._said_plain = True
            logger.warning("the model's tokenizer has no chat template: episodes are rendered as plain text "
                           "(turns joined by blank lines)")
        return Episode(task_id, seed, env, messages, prompt_ids, masked)

    def _step(self, e: Episode, ids: list[int], logprobs: list[float], tok: Any) -> None:
        """Append one response, act in the env, then append the feedback or end the episode."""
        # special tokens stay (a tokenizer may hold the response tags as special tokens); only end markers go
        text = tok.decode([t for t in ids if t not in {tok.eos_token_id, tok.pad_token_id}], skip_special_tokens=False)
        mask = [1] * len(ids)
        if e.masked:
            mask = [m * (1 - a) for m, a in zip(mask, action_token_mask(tok, ids, self.fmt), strict=True)]
        e.turn_budget_hits += int(len(ids) >= self.max_turn_tokens and self.fmt.action_close not in text)
        e.segments.append(("response", len(e.completion_ids), len(e.completion_ids) + len(ids)))
        e.completion_ids += ids
        e.env_mask += mask
        e.logprobs += logprobs
        e.turns += 1
        _, _, terminated, truncated, info = e.env.step(text)
        e.format_errors += int(info.get("parse_status") != "ok")
        e.success, e.score = bool(info.get("won", False)), float(info.get("score", 0.0))
        if terminated or truncated:
            e.end = "terminated" if terminated else "truncated"
            return
        if e.turns >= self.max_turns:
            e.end = "max_turns"
            return
        feedback = self._feedback(e, text, info, tok)
        if len(e.completion_ids) + len(feedback) + self.max_turn_tokens > self.max_episode_tokens:
            e.end = "max_episode_tokens"
            return
        e.segments.append(("feedback", len(e.completion_ids), len(e.completion_ids) + len(feedback)))
        e.completion_ids += feedback
        e.env_mask += [0] * len(feedback)
        e.logprobs += [0.0] * len(feedback)

    def _feedback(self, e: Episode, response: str, info: dict[str, Any], tok: Any) -> list[int]:
        """Token ids that close the assistant turn and open the next one (never trained)."""
        user = info["messages"][-1]  # the newest user turn (the conversation protocol's next observation)
        prefill = info["prefill"]
        if not has_chat_template(tok):
            return tok(f"\n\n{user['content']}\n{prefill}", add_special_tokens=False)["input_ids"]
        said = prefill + response  # the assistant turn: the prefill, then what the model wrote
        before = tok.apply_chat_template(e.messages, tokenize=False, add_generation_prompt=True)
        e.messages += [{"role": "assistant", "content": said}, user]
        after = tok.apply_chat_template(e.messages, tokenize=False, add_generation_prompt=True)
        if not after.startswith(before + said):
            raise InvalidConfigError("the chat template rewrites earlier assistant turns; episode rollouts need one "
                                     "that renders them verbatim")
        return tok(after[len(before) + len(said):] + prefill, add_special_tokens=False)["input_ids"]

    # ------------------------------------------------------------------ bookkeeping
    def _record(self, episodes: list[Episode], tokens: int, steps: int, seconds: float, trainer: Any = None) -> None:
        n = len(episodes)
        turns = sum(e.turns for e in episodes)
        self.last_stats = {
            "episode/success": sum(e.success for e in episodes) / n,
            "episode/format_error_rate": sum(e.format_errors for e in episodes) / max(turns, 1),
            "episode/turns": turns / n,
            "episode/masked": sum(e.masked for e in episodes) / n,
            "rollout/tokens_per_s": tokens / seconds if seconds else 0.0,
            "rollout/env_steps_per_s": steps / seconds if seconds else 0.0,
        }
        metrics = getattr(trainer, "_metrics", None)  # TRL logs what is appended here with its own metrics
        if metrics is not None:
            for key, value in self.last_stats.items():
                metrics["train"][key].append(value)
        self.log += [{"task_id": e.task_id, "seed": e.seed, "turns": e.turns, "success": e.success,
                      "score": e.score, "format_errors": e.format_errors, "end": e.end, "masked": e.masked,
                      "turn_budget_hits": e.turn_budget_hits}
                     for e in episodes]

    def close(self) -> None:
        """Close the pooled envs."""
        for env in self._pool:
            env.close()
        self._pool.clear()


class EpisodeReward:
    """TRL reward function of whole episodes: success (+ score), minus the penalty per format error.

    ``reward = success_bonus * won + score_weight * score + format_penalty * format_errors``, with the
    study's ``format_penalty = -0.1`` (docs/concepts.md, arXiv 2606.26935, GRPO protocol).
    """

    __name__ = "episode_reward"

    def __init__(self, success_bonus: float = 1.0, score_weight: float = 0.0, format_penalty: float = -0.1) -> None:
        self.success_bonus, self.score_weight, self.format_penalty = success_bonus, score_weight, format_penalty

    def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], *, episode_success: Sequence[bool],
                 episode_score: Sequence[float], format_errors: Sequence[int], **_: Any) -> list[float]:
        """One reward per episode (``list[float]``)."""
        return [self.success_bonus * float(w) + self.score_weight * float(s) + self.format_penalty * int(f)
                for w, s, f in zip(episode_success, episode_score, format_errors, strict=True)]


@dataclass
class EpisodeArgs:
    """``cotdiag train grpo`` options of whole-episode rollouts (``--rollout episode``)."""

    rollout: str = field(default="step", metadata={
        "help": "'step': replay recorded decision states (--data); 'episode': play whole episodes on --env_id.",
        "choices": ["step", "episode"]})
    env_id: str = field(default="CoTDiag-ALFWorld-v0", metadata={"help": "Episode rollouts: registered env id.",
                                                                  "aliases": ["--env"]})
    split: str | None = field(default=None, metadata={"help": "Episode rollouts: env split (default: the env's)."})
    episodes: int = field(default=64, metadata={"help": "Episode rollouts: distinct (task, seed) prompts."})
    episode_mode: str = field(default="cot", metadata={"help": "Decoding mode of the episodes.",
                                                       "choices": ["prompt", "cot"]})
    max_turns: int = field(default=20, metadata={"help": "Turns per episode at most."})
    max_turn_tokens: int = field(default=64, metadata={"help": "Generation budget of one turn (tokens)."})
    max_episode_tokens: int = field(default=1024, metadata={"help": "Completion tokens per episode at most."})
    score_weight: float = field(default=0.0, metadata={"help": "Weight of the normalized score in the reward."})


def episode_dataset(make_env: Callable[[], Any], tokenizer: Any, episodes: int, seed: int) -> tuple[Any, dict]:
    """The prompts of an episode-GRPO run: one row per planned ``(task_id, seed)``.

    Returns:
        ``(dataset, specs)``: a ``datasets.Dataset`` with ``prompt`` (the first turn's model input),
        ``task_id`` and ``seed`` columns, and ``{prompt: (task_id, seed)}`` for :class:`EpisodeRollout`
        (specs that render the same prompt share one entry: they are the same start state).
    """
    from datasets import Dataset

    from cotdiag.rollout.plan import episode_plan

    env = make_env()
    rows: dict[str, list[Any]] = {"prompt": [], "task_id": [], "seed": []}
    specs: dict[str, tuple[str, int]] = {}
    try:
        for plan in episode_plan(list(env.unwrapped.task_ids), episodes, seed):
            _, prompt_ids = first_turn(env, plan.task_id, plan.seed, tokenizer)
            text = tokenizer.decode(prompt_ids, skip_special_tokens=False)
            specs.setdefault(text, (plan.task_id, plan.seed))
            rows["prompt"].append(text)
            rows["task_id"].append(plan.task_id)
            rows["seed"].append(plan.seed)
    finally:
        env.close()
    return Dataset.from_dict(rows), specs
