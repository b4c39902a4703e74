"""The response grammar shared by wrappers, agents, trainers and diagnostics.

CoT mode:    ``<think>REASONING</think><action>ACTION</action>``
Prompt mode: the response is prefilled with ``<action>``; the model completes ``ACTION</action>``.

The tags are configurable through :class:`ResponseFormat`; everything else reads them from here.
"""

from __future__ import annotations

from dataclasses import dataclass

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"
ACTION_OPEN = "<action>"
ACTION_CLOSE = "</action>"


@dataclass(frozen=True)
class ResponseFormat:
    """The four tags of the response grammar (defaults: ``<think>``/``</think>``/``<action>``/``</action>``)."""

    think_open: str = THINK_OPEN
    think_close: str = THINK_CLOSE
    action_open: str = ACTION_OPEN
    action_close: str = ACTION_CLOSE

    def cot_response(self, reasoning: str, action: str) -> str:
        """``<think>{reasoning}</think><action>{action}</action>``."""
        return f"{self.think_open}{reasoning}{self.think_close}{self.action_open}{action}{self.action_close}"

    def prompt_response(self, action: str) -> str:
        """The completion after the ``<action>`` prefill: ``{action}</action>``."""
        return f"{action}{self.action_close}"

    @property
    def special_tokens(self) -> list[str]:
        """The tags, in a stable order (for tokenizer special tokens)."""
        return [self.think_open, self.think_close, self.action_open, self.action_close]


DEFAULT_FORMAT = ResponseFormat()
