"""``DecodingModeWrapper``: the env speaks prompts and takes raw model completions.

The wrapper turns a CoTDiag text env into one of the study's two decoding conditions:

* the observation becomes the prompt ``p`` (instructions for the mode, task, optional history,
  current observation, optionally the admissible actions), rendered by
  :func:`cotdiag.response.prompt.render_prompt`;
* ``info["prefill"]`` is the string the policy's response starts with (``<action>`` in prompt
  mode, ``""`` in CoT mode);
* the action passed to ``step`` is the policy's raw completion (without the prefill). The wrapper
  parses it with :func:`cotdiag.response.parsing.parse_response`; only the clean action reaches
  the env.
"""

from __future__ import annotations

import logging
from typing import Any

import gymnasium as gym
from gymnasium.error import ResetNeeded

from cotdiag.envs.spaces import UnicodeText
from cotdiag.error import InvalidConfigError, InvalidTypeError
from cotdiag.response.format import DEFAULT_FORMAT, ResponseFormat
from cotdiag.response.parsing import (
    DECODING_MODES,
    MAX_RESPONSE_LENGTH,
    normalization_for,
    parse_response,
)
from cotdiag.response.prompt import (
    NO_HISTORY,
    HistoryConfig,
    HistoryStep,
    render_messages,
    select_history,
)
from cotdiag.response.protocol import DecodingProtocol, observation_turn, plain_conversation

logger = logging.getLogger(__name__)

#: The format-error policies.
FORMAT_ERROR_POLICIES: tuple[str, ...] = ("penalize", "terminate", "pass_through")
#: The study's GRPO format penalty (docs/concepts.md (arXiv 2606.26935), "Protocol reported").
FORMAT_PENALTY = -0.1
#: Default maximum prompt length in characters (the observation space's ``max_length``).
MAX_PROMPT_LENGTH = 1_000_000
#: Text that replaces the current observation after a penalized response ({status}, {observation}).
FORMAT_ERROR_FEEDBACK = "Your response could not be parsed ({status}); no action was taken.\n{observation}"


class DecodingModeWrapper(gym.Wrapper[str, str, str, str], gym.utils.RecordConstructorArgs):
    """Turn observations into prompts and raw completions into clean actions.

    Args:
        env: a CoTDiag text env (any env that fills the ``info`` contract's ``task`` key; the
            others are passed through).
        mode: ``"cot"`` (the policy reasons, then acts) or ``"prompt"`` (the response is prefilled
            with the action tag; the policy emits the action with no reasoning).
        on_format_error: what happens when the parse status is not ``ok``:
            ``"penalize"`` (default): the env receives no action, the reward is ``penalty``, the
            step counts toward the step limit and the next prompt says the response was not parsed;
            ``"terminate"``: the env receives no action, the reward is ``penalty`` and the episode
            ends with ``terminated=True``;
            ``"pass_through"``: the best-effort action (``""`` when there is none) goes to the env,
            which scores it as usual.
        penalty: reward of a format error under ``penalize`` and ``terminate`` (default ``-0.1``,
            the study's GRPO format penalty).
        show_admissible: list ``info["admissible_actions"]`` in the prompt (when not ``None``).
        history: which past steps the prompt shows (default: none).
        chat: also return the prompt as chat messages in ``info["messages"]``.
        fmt: the response tags.
        max_response_length: completions longer than this (characters) are ``too_long``; it is the
            ``max_length`` of the action space.
        max_prompt_length: ``max_length`` of the observation space (characters).
        max_episode_steps: step limit counted by the wrapper (see below); default
            ``env.spec.max_episode_steps`` (``None``: no limit of its own).
        protocol: a :class:`~cotdiag.response.protocol.DecodingProtocol`; when given it sets
            ``history``, ``show_admissible`` and ``fmt``. With its ``"conversation"`` history the
            episode is one chat: ``info["messages"]`` holds every turn so far (system, the task and
            first observation, then each response as written after the prefill, and each next
            observation), and the observation is that chat as plain text
            (:func:`~cotdiag.response.protocol.plain_conversation`).

    Step counting and ``TimeLimit``:
        ``gym.make`` puts ``TimeLimit`` *inside* this wrapper, so it never sees a penalized step.
        The wrapper therefore counts every ``step`` call itself (``info["policy_step"]``: responses,
        format errors included; ``info["step"]`` stays the env's count of actions it executed) and
        returns ``truncated=True`` once its count reaches ``max_episode_steps``. Without format errors both counters agree and the inner
        ``TimeLimit`` truncates at the same step.

    Info keys (added to the env's):
        ``prefill`` (``str``), ``mode``, ``raw_response`` (the completion, ``""`` at reset),
        ``reasoning`` (``str``), ``parse_status`` (one of
        :data:`cotdiag.response.parsing.PARSE_STATUSES`, ``None`` at reset), ``action`` (the clean
        action the env received, ``None`` when it received none), ``env_observation`` (the env's
        raw observation), ``history`` (the :class:`HistoryConfig` as a dict plus ``shown``: the
        number of past steps in the prompt), ``policy_step``, and ``messages`` when ``chat=True``.

    Raises:
        ValueError: unknown ``mode`` or ``on_format_error``, non-positive lengths.
        TypeError: ``history`` is not a :class:`HistoryConfig`; ``step`` got a non-``str``.
        gymnasium.error.ResetNeeded: ``step`` before ``reset`` or after the episode ended.

    Example (real ALFWorld games from ``$ALFWORLD_DATA``):
        >>> import gymnasium as gym, cotdiag
        >>> env = DecodingModeWrapper(gym.make("CoTDiag-ALFWorld-v0", split="valid_seen"), mode="prompt")
        >>> prompt, info = env.reset(seed=0)
        >>> prompt.startswith("You are an agent acting in a text environment."), info["prefill"]
        (True, '<action>')
        >>> _, reward, *_, info = env.step(info["expert_action"] + "</action>")  # the model's text after the prefill
        >>> info["parse_status"], info["action"]
        ('ok', 'look')
        >>> _, reward, *_, info = env.step("no closing tag")  # a format error: penalized, not sent
        >>> info["parse_status"], info["action"], reward
        ('unclosed_action_tag', None, -0.1)
        >>> env.close()
    """

    def __init__(
        self,
        env: gym.Env[str, str],
        mode: str = "cot",
        *,
        on_format_error: str = "penalize",
        penalty: float = FORMAT_PENALTY,
        show_admissible: bool = False,
        history: HistoryConfig = NO_HISTORY,
        chat: bool = False,
        fmt: ResponseFormat = DEFAULT_FORMAT,
        max_response_length: int = MAX_RESPONSE_LENGTH,
        max_prompt_length: int = MAX_PROMPT_LENGTH,
        max_episode_steps: int | None = None,
        protocol: DecodingProtocol | None = None,
    ) -> None:
        gym.utils.RecordConstructorArgs.__init__(
            self, mode=mode, on_format_error=on_format_error, penalty=penalty, show_admissible=show_admissible,
            history=history, chat=chat, fmt=fmt, max_response_length=max_response_length,
            max_prompt_length=max_prompt_length, max_episode_steps=max_episode_steps, protocol=protocol,
        )
        if protocol is not None:
            history, show_admissible, fmt = protocol.history_config(), protocol.show_admissible, protocol.fmt
            chat = chat or protocol.conversation
        self.protocol = protocol
        self.conversation = bool(protocol is not None and protocol.conversation)
        gym.Wrapper.__init__(self, env)
        if mode not in DECODING_MODES:
            raise InvalidConfigError(f"expected mode in {list(DECODING_MODES)}, got {mode!r}")
        if on_format_error not in FORMAT_ERROR_POLICIES:
            raise InvalidConfigError(f"expected on_format_error in {list(FORMAT_ERROR_POLICIES)}, got {on_format_error!r}")
        if not isinstance(history, HistoryConfig):
            raise InvalidTypeError(f"expected history of type HistoryConfig, got {type(history).__name__}")
        for name, value in (("max_response_length", max_response_length), ("max_prompt_length", max_prompt_length)):
            if not isinstance(value, int) or value <= 0:
                raise InvalidConfigError(f"expected {name} to be a positive int, got {value!r}")
        self.mode = mode
        self.on_format_error = on_format_error
        self.penalty = float(penalty)
        self.show_admissible = show_admissible
        self.history_config = history
        self.chat = chat
        self.fmt = fmt
        self.max_response_length = max_response_length
        if max_episode_steps is None and env.spec is not None:
            max_episode_steps = env.spec.max_episode_steps
        self.max_episode_steps = max_episode_steps
        self.normalization = normalization_for(env)
        inner = env.action_space
        self._max_action_length = getattr(inner, "max_length", None)
        self.observation_space = UnicodeText(max_prompt_length)
        self.action_space = UnicodeText(max_response_length)
        self.prefill = fmt.action_open if mode == "prompt" else ""
        self._history: list[HistoryStep] = []
        self._messages: list[dict[str, str]] = []
        self._current = ""
        self._env_obs = ""
        self._env_info: dict[str, Any] = {}
        self._steps = 0
        self._done = True

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        """Reset the env; return the first prompt and the env's info plus the wrapper's keys."""
        obs, info = self.env.reset(seed=seed, options=options)
        self._history = []
        self._messages = []
        self._env_obs = self._current = obs
        self._env_info = dict(info)
        self._steps = 0
        self._done = False
        prompt, extra = self._render(obs, info)
        extra.update(raw_response="", reasoning="", parse_status=None, action=None, policy_step=0)
        return prompt, {**info, **extra}

    def step(self, completion: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        """Parse ``completion`` (the text after ``info["prefill"]``), act, return the next prompt.

        Returns:
            ``(prompt, reward, terminated, truncated, info)`` (see the class docstring).
        """
        if self._done:
            raise ResetNeeded("call reset() before step() (the episode is over or never started)")
        if not isinstance(completion, str):
            raise InvalidTypeError(f"expected completion of type str, got {type(completion).__name__}")
        self._steps += 1
        res = parse_response(
            completion, mode=self.mode, prefill=self.prefill, fmt=self.fmt, normalization=self.normalization,
            max_length=self.max_response_length, max_action_length=self._max_action_length,
        )
        shown = self._current
        if res.ok or self.on_format_error == "pass_through":
            action: str | None = res.action or ""
            obs, reward, terminated, truncated, info = self.env.step(action)
            info = dict(info)
            self._env_info = info
            self._env_obs = self._current = obs
        else:
            logger.debug("format error %s; %s", res.status, self.on_format_error)
            action = None
            info = dict(self._env_info, invalid_action=True)
            obs = self._env_obs
            reward, terminated, truncated = self.penalty, self.on_format_error == "terminate", False
            self._current = FORMAT_ERROR_FEEDBACK.format(status=res.status, observation=obs)
        self._history.append(HistoryStep(shown, action or "", res.reasoning or None))
        if self.conversation:
            self._messages.append({"role": "assistant", "content": self.prefill + completion})
        if self.max_episode_steps is not None and self._steps >= self.max_episode_steps and not terminated:
            truncated = True
        self._done = bool(terminated or truncated)
        prompt, extra = self._render(self._current, info)
        extra.update(raw_response=completion, reasoning=res.reasoning, parse_status=res.status, action=action,
                     policy_step=self._steps)
        return prompt, float(reward), bool(terminated), bool(truncated), {**info, **extra}

    # ------------------------------------------------------------------ helpers
    def _render(self, observation: str, info: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        adm = info.get("admissible_actions") if self.show_admissible else None
        if self.conversation and self._messages:
            self._messages.append({"role": "user", "content": observation_turn(observation, adm)})
            messages = list(self._messages)
            prompt = plain_conversation(messages)
            shown = len(self._history)
        else:
            messages = render_messages(
                str(info.get("task", "")), observation, self._history, mode=self.mode, admissible_actions=adm,
                config=self.history_config, fmt=self.fmt,
            )
            prompt = messages[0]["content"] + "\n\n" + messages[1]["content"]
            shown = len(select_history(self._history, self.history_config))
            if self.conversation:
                self._messages = list(messages)
        extra: dict[str, Any] = {
            "prefill": self.prefill,
            "mode": self.mode,
            "env_observation": self._env_obs,
            "history": {**self.history_config.to_dict(), "shown": shown},
        }
        if self.chat:
            extra["messages"] = messages
        return prompt, extra

