"""``cotdiag evaluate``'s job: which policy plays which env, how its responses are decoded, where the
records go (:func:`cotdiag.rollout.evaluate` plays and records)."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cotdiag.error import InvalidConfigError
from cotdiag.rollout.evaluation import BACKENDS

logger = logging.getLogger(__name__)

#: Policy kinds that produce free text and so need the decoding wrapper (``mode``).
LLM_POLICY_KINDS: tuple[str, ...] = ("hf", "openai")


@dataclass
class EvaluateJob:
    """One evaluation run; ``cotdiag evaluate`` takes every field as an option.

    Raises:
        cotdiag.error.InvalidConfigError: an LLM policy without ``mode`` (it would get the raw
            observation, and its whole completion would be sent as the action); a ``KEY=VALUE``
            item without ``=``.
    """

    env: str = field(default="CoTDiag-ALFWorld-v0", metadata={"help": "Registered Gymnasium env id."})
    split: str | None = field(default=None, metadata={"help": "Task split (default: the env's default)."})
    policy: str = field(default="expert", metadata={
        "help": "Policy spec: expert | random | hf:PATH_OR_HUB_ID (e.g. hf:smollm2-135m) | openai:MODEL@URL | sb3:PATH."})
    episodes: int = field(default=10, metadata={"help": "Number of episodes.", "min": 1})
    seed: int = field(default=0, metadata={"help": "Base seed: episode i resets with seed+i."})
    out: Path = field(default=Path("runs/evaluate"), metadata={"help": "Run directory (resumes if it exists)."})
    max_steps: int | None = field(default=None, metadata={"help": "Override the registration's max_episode_steps.",
                                                          "min": 1})
    env_kwarg: list[str] = field(default_factory=list, metadata={
        "help": "Extra env kwarg KEY=VALUE (JSON value).", "metavar": "KEY=VALUE"})
    policy_kwarg: list[str] = field(default_factory=list, metadata={
        "help": "Policy constructor kwarg KEY=VALUE (JSON value), e.g. api=chat for openai:, max_new_tokens=64 "
                "for hf:.", "metavar": "KEY=VALUE"})
    import_modules: list[str] = field(default_factory=list, metadata={
        "help": "User module (dotted name or .py path) that registers envs/policies.", "metavar": "MODULE"})
    backend: str = field(default="local", metadata={"help": "Where episodes run.", "choices": list(BACKENDS)})
    ray_address: str | None = field(default=None, metadata={"help": "Ray cluster address (default: a local Ray "
                                                                    "instance)."})
    num_workers: int | None = field(default=None, metadata={"help": "Ray actors (default: one per CPU).", "min": 1})
    num_envs: int = field(default=1, metadata={
        "help": "Local backend: episodes played at once on an async vector env (one process each).", "min": 1})
    mode: str | None = field(default=None, metadata={
        "help": "LLM policies: decode through the decoding wrapper (default: raw env).", "choices": ["prompt", "cot"]})
    history: str | None = field(default=None, metadata={
        "help": "With --mode: history policy (default: the checkpoint's cotdiag_protocol.json; without one, "
                "'window').", "choices": ["conversation", "window"]})
    history_window: int | None = field(default=None, metadata={
        "help": "With --mode, 'window' policy: past steps shown (-1: all; default 3)."})
    history_keep_first: bool = field(default=True, metadata={
        "help": "With --mode: always show the episode's first observation."})

    def __post_init__(self) -> None:
        if self.mode is None and self.policy.partition(":")[0] in LLM_POLICY_KINDS:
            raise InvalidConfigError(
                f"an LLM policy ({self.policy}) needs --mode prompt or --mode cot: without the decoding wrapper it "
                "gets the raw observation with no instructions and its whole completion would be sent as the action")
        self.env_kwargs, self.policy_kwargs = parse_kwargs(self.env_kwarg), parse_kwargs(self.policy_kwarg)

    def make_env(self) -> Any:
        """The decoding-wrapper env factory of ``mode`` (``None`` without a mode: the raw env), with the
        protocol of an ``hf:`` checkpoint (:func:`policy_protocol`)."""
        if self.mode is None:
            return None
        from cotdiag.rollout.factory import DecodedEnvFactory

        protocol = policy_protocol(self.policy, self.history, self.history_window)
        window = 3 if self.history_window is None else (None if self.history_window < 0 else self.history_window)
        return DecodedEnvFactory(self.env, self.mode, history_window=window, max_episode_steps=self.max_steps,
                                 history_keep_first=self.history_keep_first, protocol=protocol)

    def evaluate_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :func:`cotdiag.rollout.evaluate` besides the env id, policy and folder."""
        extra = {"make_env": factory} if (factory := self.make_env()) is not None else {}
        return dict(split=self.split, episodes=self.episodes, seed=self.seed, max_episode_steps=self.max_steps,
                    env_kwargs=self.env_kwargs, backend=self.backend, ray_address=self.ray_address,
                    num_workers=self.num_workers, num_envs=self.num_envs, **extra)


def parse_kwargs(items: list[str]) -> dict[str, Any]:
    """``["k=1", "name=x"]`` -> ``{"k": 1, "name": "x"}`` (values parsed as JSON when they are JSON).

    Raises:
        cotdiag.error.InvalidConfigError: an item without ``=``.
    """
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise InvalidConfigError(f"expected KEY=VALUE, got {item!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def policy_protocol(policy: str, history: str | None, history_window: int | None) -> Any:
    """The decoding protocol of an ``hf:`` policy's checkpoint, checked against explicit options.

    Returns ``None`` when the run should use the per-option window rendering (no protocol file, or
    ``--history window`` without one); logs once when a checkpoint has no protocol file.

    Raises:
        InvalidConfigError: an explicit option contradicts the checkpoint's protocol.
    """
    from cotdiag.agents.pretrained import model_protocol, resolve_model
    from cotdiag.response.protocol import DecodingProtocol

    kind, _, arg = policy.partition(":")
    saved = model_protocol(policy)
    if saved is None and kind == "hf" and arg and Path(resolve_model(arg)).is_dir():
        logger.warning("%s has no cotdiag_protocol.json: using the options' window rendering (the behaviour "
                       "before protocols)", arg)
    if saved is None:
        return DecodingProtocol(history="conversation") if history == "conversation" else None
    if history is not None and history != saved.history:
        raise InvalidConfigError(f"--history {history} contradicts the checkpoint's protocol (history "
                                 f"{saved.history!r} in {arg}/cotdiag_protocol.json)")
    if history_window is not None and saved.history == "window" and history_window != saved.window:
        raise InvalidConfigError(f"--history_window {history_window} contradicts the checkpoint's protocol "
                                 f"(window {saved.window})")
    if history_window is not None and saved.history == "conversation":
        raise InvalidConfigError("--history_window applies to the 'window' policy; the checkpoint's protocol is "
                                 "'conversation'")
    return saved
