"""A policy served by any OpenAI-compatible endpoint (``openai:MODEL@BASE_URL``): vLLM, SGLang, hosted.

Requests go through the official ``openai`` client, with a per-request timeout and the client's
own retries (``max_retries``: connection errors, 408, 409, 429 and 5xx answers are retried with
exponential backoff and jitter, honouring ``Retry-After``); at most ``concurrency`` requests are in
flight during :meth:`OpenAIPolicy.act_batch`; token usage and retries are summed in
:attr:`OpenAIPolicy.usage`.

Two APIs:

* ``"completions"`` (default): the prompt is ``prompt + "\\n" + prefill`` as plain text (what
  :func:`cotdiag.response.build_model_text` gives for a tokenizer without chat template), with
  ``stop=[</action>]``; the closing tag is appended back when generation stopped on it.
* ``"chat"``: ``info["messages"]``, else :func:`cotdiag.response.prompt.chat_messages` of the
  prompt (the split every chat template gets in CoTDiag); a non-empty prefill is sent as a final
  assistant message with ``continue_final_message=True`` (vLLM/SGLang extension, ``extra_body``).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from cotdiag.agents.base import BasePolicy
from cotdiag.error import CoTDiagError, InvalidConfigError
from cotdiag.response.format import DEFAULT_FORMAT, ResponseFormat
from cotdiag.response.prompt import chat_messages

logger = logging.getLogger(__name__)

APIS: tuple[str, ...] = ("completions", "chat")


class EndpointError(CoTDiagError):
    """The endpoint failed after every retry (the message has the last error)."""


class OpenAIPolicy(BasePolicy):
    """Generate actions through an OpenAI-compatible endpoint.

    Args:
        model: the served model name.
        base_url: endpoint root (e.g. ``http://127.0.0.1:8000/v1``); ``None``: ``$OPENAI_BASE_URL``
            or the client's default.
        api_key: ``None``: ``$OPENAI_API_KEY``, else ``"EMPTY"`` (local servers ignore it).
        api: ``"completions"`` or ``"chat"`` (see module docstring).
        max_tokens: generation budget per response (tokens).
        temperature: ``0`` for greedy decoding.
        seed: sent as the request ``seed`` (offset by the call count) when sampling.
        timeout: per-request timeout in seconds.
        max_retries: the client's retries after the first failure (at most ``max_retries + 1``
            attempts per request).
        concurrency: requests in flight at most in :meth:`act_batch`.
        fmt: the response tags.

    Attributes:
        usage: ``{"requests", "prompt_tokens", "completion_tokens", "retries", "failures"}`` (ints),
            summed over the policy's life.

    Raises:
        InvalidConfigError: unknown ``api`` or non-positive ``timeout``/``concurrency``/``max_tokens``.
    """

    name = "openai"

    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        *,
        api_key: str | None = None,
        api: str = "completions",
        max_tokens: int = 256,
        temperature: float = 0.0,
        seed: int | None = None,
        timeout: float = 60.0,
        max_retries: int = 3,
        concurrency: int = 8,
        fmt: ResponseFormat = DEFAULT_FORMAT,
    ) -> None:
        from openai import OpenAI

        if api not in APIS:
            raise InvalidConfigError(f"expected api in {list(APIS)}, got {api!r}")
        if timeout <= 0 or concurrency < 1 or max_tokens < 1 or max_retries < 0:
            raise InvalidConfigError(
                f"expected timeout > 0, concurrency >= 1, max_tokens >= 1, max_retries >= 0, got "
                f"{timeout}, {concurrency}, {max_tokens}, {max_retries}"
            )
        self.client = OpenAI(base_url=base_url or os.environ.get("OPENAI_BASE_URL"),
                             api_key=api_key or os.environ.get("OPENAI_API_KEY") or "EMPTY",
                             timeout=timeout, max_retries=max_retries)
        self.model, self.api, self.max_tokens, self.temperature = model, api, max_tokens, temperature
        self.max_retries, self.concurrency, self.fmt = max_retries, concurrency, fmt
        self.name = f"openai:{model}@{base_url}" if base_url else f"openai:{model}"
        self._seed = seed
        self._calls = 0
        self._lock = threading.Lock()
        self.usage = {"requests": 0, "prompt_tokens": 0, "completion_tokens": 0, "retries": 0, "failures": 0}

    def reset(self, seed: int | None = None) -> None:
        """Re-seed sampling and restart the call counter."""
        if seed is not None:
            self._seed = seed
        self._calls = 0

    def act(self, observation: str, info: dict[str, Any]) -> str:
        """The completion after ``info["prefill"]`` (prefill excluded), ending with ``</action>`` when
        the model closed the action."""
        return self.act_batch([observation], [info])[0]

    def act_batch(self, observations: Sequence[str], infos: Sequence[dict[str, Any]]) -> list[str]:
        """One request per state, at most ``concurrency`` in flight; results in input order.

        Raises:
            ValueError: lengths differ.
            EndpointError: a request failed after all retries.
        """
        if len(observations) != len(infos):
            raise InvalidConfigError(f"expected as many infos as observations, got {len(infos)} and {len(observations)}")
        calls = []
        for o, i in zip(observations, infos, strict=True):
            calls.append((o, i, None if self._seed is None else self._seed + self._calls))
            self._calls += 1
        if len(calls) == 1:
            return [self._request(*calls[0])]
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            return list(pool.map(lambda c: self._request(*c), calls))

    def probe(self) -> None:
        """One request to the endpoint's model list, with no retries: a dead endpoint is found before
        the first episode, in one line. An endpoint that answers with an HTTP error (no ``/models``
        route) passes: only a connection failure or a timeout fails the probe.

        Raises:
            EndpointError: the endpoint did not answer (connection refused, DNS, timeout).
        """
        from openai import APIConnectionError, APITimeoutError

        try:
            self.client.with_options(max_retries=0, timeout=10.0).models.list()
        except (APIConnectionError, APITimeoutError) as e:
            raise EndpointError(f"{self.name}: the endpoint does not answer ({type(e).__name__}: {e})") from e
        except Exception as e:  # it answered (e.g. 404 without a /models route): requests will tell
            logger.debug("endpoint probe of %s: %r", self.name, e)

    # ------------------------------------------------------------------ internals
    def _request(self, observation: str, info: dict[str, Any], seed: int | None) -> str:
        prefill = str(info.get("prefill") or "")
        try:
            text, finish, usage, retries = self._send(observation, info, prefill, seed)
        except Exception as e:  # any transport or server error, after the client's retries
            with self._lock:
                self.usage["retries"] += self.max_retries
                self.usage["failures"] += 1
            raise EndpointError(f"{self.name}: request failed after {self.max_retries + 1} attempts: {e}") from e
        self._record(usage, retries)
        if finish == "stop" and self.fmt.action_open in prefill + text and not text.endswith(self.fmt.action_close):
            text += self.fmt.action_close  # the stop string is not returned by the API
        return text

    def _send(self, observation: str, info: dict[str, Any], prefill: str, seed: int | None) -> tuple[str, str, Any, int]:
        """``(text, finish_reason, usage, retries_taken)`` of one request (the client retries)."""
        common: dict[str, Any] = {"model": self.model, "max_tokens": self.max_tokens, "temperature": self.temperature,
                                  "stop": [self.fmt.action_close]}
        if seed is not None and self.temperature > 0:
            common["seed"] = seed
        if self.api == "completions":
            raw = self.client.completions.with_raw_response.create(prompt=f"{observation}\n{prefill}", **common)
            r = raw.parse()
            choice = r.choices[0]
            return choice.text or "", choice.finish_reason or "", r.usage, raw.retries_taken
        messages = list(info.get("messages") or chat_messages(observation))
        extra = None
        if prefill:
            messages.append({"role": "assistant", "content": prefill})
            extra = {"continue_final_message": True, "add_generation_prompt": False}
        raw = self.client.chat.completions.with_raw_response.create(messages=messages, extra_body=extra, **common)
        r = raw.parse()
        choice = r.choices[0]
        return choice.message.content or "", choice.finish_reason or "", r.usage, raw.retries_taken

    def _record(self, usage: Any, retries: int) -> None:
        with self._lock:
            self.usage["requests"] += 1
            self.usage["retries"] += int(retries)
            if usage is not None:
                self.usage["prompt_tokens"] += int(getattr(usage, "prompt_tokens", 0) or 0)
                self.usage["completion_tokens"] += int(getattr(usage, "completion_tokens", 0) or 0)


def make_openai_policy(arg: str, seed: int | None, **kwargs: Any) -> OpenAIPolicy:
    """Factory of ``openai:MODEL@BASE_URL`` (``@BASE_URL`` optional) for ``make_policy``.

    Raises:
        InvalidConfigError: empty model name.
    """
    model, _, base_url = arg.partition("@")
    if not model:
        raise InvalidConfigError(f"expected openai:MODEL@BASE_URL, got openai:{arg!r}")
    return OpenAIPolicy(model, base_url or None, seed=seed, **kwargs)
