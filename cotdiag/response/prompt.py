"""Render the prompt of one decision state: instructions, task, history, current observation.

:func:`render_prompt` is the *one* renderer of CoTDiag prompts. The decoding wrapper uses it at
inference and the dataset builder uses it for training examples, so the two are byte-identical for
the same ``(task, observation, history, config)``. :func:`render_messages` gives the same content
as chat messages (system = instructions, user = the rest) for tokenizers with chat templates.

Layout (``mode="cot"``, one past step, reasoning stripped, admissible actions shown)::

    You are an agent acting in a text environment. ...instructions for the mode...

    Task: put a clean mug on the desk.

    History (1 of 1 steps):
    [Step 1]
    Observation: You are in the middle of a room. ...
    Action: go to countertop 1

    Current observation:
    On the countertop 1, you see a mug 1.

    Admissible actions: examine countertop 1, go to desk 1, take mug 1 from countertop 1

A history step is what the agent saw, (optionally) what it reasoned, and what it did; the current
observation is shown apart. The history section is omitted when no step is shown.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from cotdiag.error import InvalidConfigError
from cotdiag.response.format import DEFAULT_FORMAT, ResponseFormat

#: How past reasoning appears in the history.
REASONING_MODES: tuple[str, ...] = ("strip", "keep")


@dataclass(frozen=True)
class HistoryStep:
    """One past step of the episode.

    Attributes:
        observation: the observation the agent saw before acting (the reset observation for step 1).
        action: the clean action it took (``""`` when its response had no usable action).
        reasoning: its reasoning for that action, or ``None`` (shown only with ``reasoning="keep"``).
    """

    observation: str
    action: str
    reasoning: str | None = None


@dataclass(frozen=True)
class HistoryConfig:
    """Which past steps a prompt shows, and how.

    Attributes:
        window: show at most the last ``window`` steps; ``None`` shows all, ``0`` none.
        max_chars: character budget of the rendered step blocks: the oldest steps are dropped until
            the kept blocks fit (a step is never cut in the middle); ``None`` for no budget.
        reasoning: ``"strip"`` (past reasoning is not shown) or ``"keep"`` (shown as a
            ``Reasoning:`` line before the action).
        keep_first: always show step 1 (the episode's first observation: in ALFWorld, the room
            and its receptacles) before the window, even when the window has moved past it.

    Raises:
        ValueError: a negative ``window`` or ``max_chars``, or an unknown ``reasoning``.
    """

    window: int | None = None
    max_chars: int | None = None
    reasoning: str = "strip"
    keep_first: bool = False

    def __post_init__(self) -> None:
        if self.window is not None and (not isinstance(self.window, int) or self.window < 0):
            raise InvalidConfigError(f"expected window to be None or an int >= 0, got {self.window!r}")
        if self.max_chars is not None and (not isinstance(self.max_chars, int) or self.max_chars < 0):
            raise InvalidConfigError(f"expected max_chars to be None or an int >= 0, got {self.max_chars!r}")
        if self.reasoning not in REASONING_MODES:
            raise InvalidConfigError(f"expected reasoning in {list(REASONING_MODES)}, got {self.reasoning!r}")

    def to_dict(self) -> dict[str, Any]:
        """The config as a plain dict (recorded in ``info["history"]``)."""
        return asdict(self)


#: No history at all: the prompt is task + current observation.
NO_HISTORY = HistoryConfig(window=0)


#: The first sentence of every instruction paragraph (how :func:`chat_messages` recognises one).
INSTRUCTIONS_HEAD = "You are an agent acting in a text environment. Reply with exactly one action."


def instructions(mode: str, fmt: ResponseFormat = DEFAULT_FORMAT) -> str:
    """The instruction paragraph for ``mode`` (``"cot"`` or ``"prompt"``).

    Raises:
        ValueError: unknown ``mode``.
    """
    head = INSTRUCTIONS_HEAD
    if mode == "cot":
        return (
            f"{head} First reason step by step inside {fmt.think_open}{fmt.think_close}, then give the "
            f"action inside {fmt.action_open}{fmt.action_close}: "
            f"{fmt.think_open}...{fmt.think_close}{fmt.action_open}...{fmt.action_close}"
        )
    if mode == "prompt":
        return (
            f"{head} Give only the action inside {fmt.action_open}{fmt.action_close}, "
            f"with no reasoning: {fmt.action_open}...{fmt.action_close}"
        )
    raise InvalidConfigError(f"expected mode in ['prompt', 'cot'], got {mode!r}")


def _step_block(i: int, step: HistoryStep, keep_reasoning: bool) -> str:
    lines = [f"[Step {i}]", f"Observation: {step.observation.strip()}"]
    if keep_reasoning and step.reasoning:
        lines.append(f"Reasoning: {step.reasoning.strip()}")
    lines.append(f"Action: {step.action}")
    return "\n".join(lines)


def select_history(history: Sequence[HistoryStep], config: HistoryConfig) -> list[str]:
    """The rendered step blocks that ``config`` keeps, oldest first (numbered from the episode start).

    The window (and the ``max_chars`` budget, which drops the oldest windowed steps first) selects
    recent steps; with ``config.keep_first`` step 1 is shown before them whatever the window.

    Returns:
        ``list[str]``, one block per kept step; ``len(result) <= len(history)``.

    Example:
        >>> steps = [HistoryStep(f"obs {i}", f"act {i}") for i in range(1, 5)]
        >>> [b.splitlines()[0] for b in select_history(steps, HistoryConfig(window=2, keep_first=True))]
        ['[Step 1]', '[Step 3]', '[Step 4]']
    """
    n = len(history)
    first = 0 if config.window is None else max(0, n - config.window)
    keep = config.reasoning == "keep"
    blocks = [_step_block(i + 1, history[i], keep) for i in range(first, n)]
    if config.max_chars is not None:
        total = sum(len(b) + 1 for b in blocks)  # +1: the joining newline
        while blocks and total > config.max_chars:
            total -= len(blocks.pop(0)) + 1
            first += 1
    if config.keep_first and n and first > 0:
        blocks.insert(0, _step_block(1, history[0], keep))
    return blocks


def _body(task: str, observation: str, history: Sequence[HistoryStep], admissible_actions: Sequence[str] | None,
          config: HistoryConfig) -> tuple[str, int]:
    parts = [f"Task: {task.strip()}"]
    blocks = select_history(history, config)
    if blocks:
        parts.append(f"History ({len(blocks)} of {len(history)} steps):\n" + "\n".join(blocks))
    parts.append(f"Current observation:\n{observation.strip()}")
    if admissible_actions is not None:
        parts.append("Admissible actions: " + ", ".join(admissible_actions))
    return "\n\n".join(parts), len(blocks)


def render_messages(
    task: str,
    observation: str,
    history: Sequence[HistoryStep] = (),
    *,
    mode: str = "cot",
    admissible_actions: Sequence[str] | None = None,
    config: HistoryConfig = NO_HISTORY,
    fmt: ResponseFormat = DEFAULT_FORMAT,
) -> list[dict[str, str]]:
    """The prompt as chat messages: ``[{"role": "system", ...}, {"role": "user", ...}]``.

    Same arguments as :func:`render_prompt`; ``render_prompt(...) == system + "\\n\\n" + user``.
    """
    body, _ = _body(task, observation, history, admissible_actions, config)
    return [{"role": "system", "content": instructions(mode, fmt)}, {"role": "user", "content": body}]


def chat_messages(prompt: str) -> list[dict[str, str]]:
    """Split a rendered prompt back into the chat messages :func:`render_messages` gives.

    :func:`render_prompt` joins the instruction paragraph (the system message; it holds no blank
    line and starts with :data:`INSTRUCTIONS_HEAD`) and the body (the user message) with one blank
    line, so splitting at the first blank line inverts it exactly:
    ``chat_messages(render_prompt(...)) == render_messages(...)``. Any other prompt becomes one user
    message. This is the one mapping from a prompt to a chat
    template's input, used by generation, SFT, GRPO, the diagnostics and the OpenAI chat API.

    Example:
        >>> [m["role"] for m in chat_messages(render_prompt("x", "obs"))]
        ['system', 'user']
        >>> chat_messages("Task: x\\n\\nobs")
        [{'role': 'user', 'content': 'Task: x\\n\\nobs'}]
    """
    system, sep, user = prompt.partition("\n\n")
    if not sep or not system.startswith(INSTRUCTIONS_HEAD):
        return [{"role": "user", "content": prompt}]
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def render_prompt(
    task: str,
    observation: str,
    history: Sequence[HistoryStep] = (),
    *,
    mode: str = "cot",
    admissible_actions: Sequence[str] | None = None,
    config: HistoryConfig = NO_HISTORY,
    fmt: ResponseFormat = DEFAULT_FORMAT,
) -> str:
    """Render the prompt text ``p`` of one decision state (stable signature: the dataset builder uses it).

    Args:
        task: the goal text (``info["task"]``).
        observation: the current observation (the env's last observation, not yet acted on).
        history: the past steps of the episode, oldest first.
        mode: ``"cot"`` or ``"prompt"`` (selects the instructions).
        admissible_actions: listed after the observation when given (``None``: not shown).
        config: which past steps are shown and whether their reasoning is kept.
        fmt: the response tags named in the instructions.

    Returns:
        The prompt ``str``: instructions, task, history, current observation, admissible actions,
        separated by blank lines. It does not include the response prefill (``info["prefill"]``).

    Raises:
        ValueError: unknown ``mode``.

    Example:
        >>> p = render_prompt("put a mug on the desk.", "You see a mug 1.", mode="prompt")
        >>> p.splitlines()[-1]
        'You see a mug 1.'
    """
    messages = render_messages(task, observation, history, mode=mode, admissible_actions=admissible_actions,
                               config=config, fmt=fmt)
    return messages[0]["content"] + "\n\n" + messages[1]["content"]


def plain_conversation(messages: Sequence[dict[str, str]]) -> str:
    """A conversation as plain text, for models without a chat template.

    Turns are joined by a blank line, except that an assistant turn follows its user turn after one
    newline, which is how :func:`cotdiag.response.build_model_text` places the prefill after a plain
    prompt; so the plain model input at every turn is a prefix of the whole episode's text.

    Example:
        >>> plain_conversation([{"role": "system", "content": "a"}, {"role": "user", "content": "b"},
        ...                     {"role": "assistant", "content": "c"}])
        'a\\n\\nb\\nc'
    """
    out = ""
    for i, m in enumerate(messages):
        if i:
            out += "\n" if m["role"] == "assistant" else "\n\n"
        out += m["content"]
    return out


def has_chat_template(tokenizer: Any) -> bool:
    """Whether ``tokenizer`` carries a chat template."""
    return bool(getattr(tokenizer, "chat_template", None))


def build_model_text(
    tokenizer: Any,
    prompt: str,
    prefill: str = "",
    *,
    messages: Sequence[dict[str, str]] | None = None,
    use_chat_template: bool | None = None,
) -> str:
    """The exact text fed to the model for one decision state, prefill included.

    This is the one renderer of model inputs: generation (:class:`cotdiag.agents.HFPolicy`), SFT labels
    (:func:`cotdiag.baselines.sft.tokenize_example`), GRPO prompts, the offline and
    conflicting-trace diagnostics and the attention/gradient spans all call it, and tokenize its
    result with ``add_special_tokens=False`` (a chat template writes its own special tokens; no
    extra BOS is added anywhere).

    Plain text (no chat template): ``prompt + "\\n" + prefill``. With a chat template: the template
    applied to ``messages`` (default :func:`chat_messages` of ``prompt``:
    the instruction paragraph as the system message, the rest as the user message) with
    ``add_generation_prompt=True``, then ``prefill``. Prompt mode therefore puts ``<action>`` as the
    first text of the assistant turn; CoT mode leaves the assistant turn empty. Templates with their
    own thinking switch (Qwen3's ``enable_thinking``) are rendered with their defaults: CoTDiag's
    ``<think>``/``<action>`` tags are the response grammar in both modes.

    Args:
        tokenizer: the model's tokenizer.
        prompt: the rendered prompt (the observation of a decoding wrapper).
        prefill: the start of the response (``info["prefill"]``: ``"<action>"`` or ``""``).
        messages: chat messages to use instead of ``chat_messages(prompt)``.
        use_chat_template: ``None`` applies the template when the tokenizer has one.

    Returns:
        The model input as a string (``str``).

    Example:
        >>> from types import SimpleNamespace
        >>> build_model_text(SimpleNamespace(chat_template=None), "Task: x", "<action>")
        'Task: x\\n<action>'
    """
    if messages is None:  # a conversation state (cotdiag.response.protocol.ConversationPrompt) carries its turns
        messages = getattr(prompt, "messages", None)
    chat = has_chat_template(tokenizer) if use_chat_template is None else use_chat_template
    if not chat:
        return f"{plain_conversation(messages) if messages else prompt}\n{prefill}"
    msgs = list(messages) if messages else chat_messages(prompt)
    text = tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
    return f"{text}{prefill}"


def conversation_text(tokenizer: Any, messages: Sequence[dict[str, str]], *,
                      use_chat_template: bool | None = None) -> str:
    """A whole conversation that ends with an assistant turn, as the model reads it in training.

    With a chat template: the template applied to ``messages`` (no generation prompt); plain:
    :func:`plain_conversation`. For every assistant turn ``i``, ``build_model_text(tokenizer, "",
    messages=messages[:i])`` followed by that turn's content is a prefix of this text (checked by
    :func:`cotdiag.baselines.conversation.tokenize_conversation`).
    """
    chat = has_chat_template(tokenizer) if use_chat_template is None else use_chat_template
    if not chat:
        return plain_conversation(messages)
    return tokenizer.apply_chat_template(list(messages), tokenize=False)
