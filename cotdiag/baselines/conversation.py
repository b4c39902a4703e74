"""Expert episodes as conversations: the SFT examples of the ``"conversation"`` protocol.

One expert episode is one chat (:mod:`cotdiag.response.protocol`): system = the instructions,
user = the task and first observation, then each expert response and each next observation. The
text is built from the same pieces the :class:`~cotdiag.wrappers.DecodingModeWrapper` uses
(:func:`~cotdiag.response.render_messages` for the first two turns,
:func:`~cotdiag.response.protocol.observation_turn` after), so the model input of every decision
in training is byte-identical to what the policy is given at inference.

:func:`tokenize_conversation` trains every assistant turn of an episode in one forward pass:
labels on the assistant tokens only (observations never trained), one entry per token saying
which decision it belongs to, and the action tokens by the protocol's span rule. An episode longer
than the token budget is cut at turn boundaries into several examples, each beginning with the
system message and the first user turn and followed by the most recent turns that fit, as
:func:`~cotdiag.response.protocol.fit_conversation` truncates at inference; each decision is
trained once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cotdiag.error import InvalidConfigError
from cotdiag.response.format import DEFAULT_FORMAT, ResponseFormat
from cotdiag.response.prompt import build_model_text, conversation_text, render_messages
from cotdiag.response.protocol import (
    ConversationPrompt,
    DecodingProtocol,
    observation_turn,
    span_token_mask,
)

#: Label value ignored by the loss (``torch.nn.CrossEntropyLoss(ignore_index=-100)``).
IGNORE_INDEX = -100


def expert_conversation(states: Sequence[dict[str, Any]], traces: Sequence[str | None], mode: str,
                        protocol: DecodingProtocol) -> list[dict[str, str]]:
    """The chat of one expert episode in ``mode`` (``"cot"``: reasoning then action; ``"prompt"``: action only).

    Args:
        states: ``[{"observation", "info", "action"}]`` (:func:`cotdiag.baselines.data.expert_episode`).
        traces: one reasoning per state (used in ``"cot"`` mode).
        mode: ``"cot"`` or ``"prompt"``.
        protocol: the decoding protocol (``show_admissible``, ``fmt``).

    Returns:
        ``[system, user, assistant, user, assistant, ...]`` ending with the last assistant turn
        (``2 * len(states) + 1`` messages).
    """
    fmt = protocol.fmt
    messages: list[dict[str, str]] = []
    for i, (s, trace) in enumerate(zip(states, traces, strict=True)):
        adm = s["info"].get("admissible_actions") if protocol.show_admissible else None
        if i == 0:
            messages += render_messages(str(s["info"].get("task", "")), s["observation"], mode=mode,
                                        admissible_actions=adm, config=protocol.history_config(), fmt=fmt)
        else:
            messages.append({"role": "user", "content": observation_turn(s["observation"], adm)})
        if mode == "cot":
            said = fmt.cot_response(str(trace), s["action"])
        else:
            said = fmt.action_open + fmt.prompt_response(s["action"])
        messages.append({"role": "assistant", "content": said})
    return messages


def _action_span(content: str, fmt: ResponseFormat) -> tuple[int, int]:
    """Character span of the action text inside an assistant turn (``(0, 0)`` when there is none)."""
    k = content.find(fmt.action_open)
    if k < 0:
        return 0, 0
    a0 = k + len(fmt.action_open)
    c = content.find(fmt.action_close, a0)
    return a0, (c if c >= 0 else len(content))


def conversation_spans(tokenizer: Any, messages: Sequence[dict[str, str]], fmt: ResponseFormat = DEFAULT_FORMAT,
                       use_chat_template: bool | None = None) -> tuple[str, list[tuple[int, int, int, int]]]:
    """The training text of a conversation and, per assistant turn, ``(start, end, action_start, action_end)``.

    ``start`` is where the turn's content begins (right after the model input of that decision),
    ``end`` where the turn ends including the template's end-of-turn marker.

    Raises:
        InvalidConfigError: the chat template renders an earlier turn differently once later turns
            follow (the model input of a decision would not be a prefix of the episode's text).
    """
    text = conversation_text(tokenizer, messages, use_chat_template=use_chat_template)
    spans = []
    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        ctx = build_model_text(tokenizer, "", messages=messages[:i], use_chat_template=use_chat_template)
        start = len(ctx)
        if not text.startswith(ctx + m["content"]):
            raise InvalidConfigError("the chat template rewrites earlier turns; conversation SFT needs one that "
                                     "renders them verbatim")
        upto = conversation_text(tokenizer, messages[: i + 1], use_chat_template=use_chat_template)
        end = len(upto) if text.startswith(upto) else start + len(m["content"])
        a0, a1 = _action_span(m["content"], fmt)
        spans.append((start, end, start + a0, start + a1))
    return text, spans


def tokenize_conversation(tokenizer: Any, messages: Sequence[dict[str, str]], *, max_length: int | None = None,
                          fmt: ResponseFormat = DEFAULT_FORMAT, use_chat_template: bool | None = None,
                          ) -> list[dict[str, list[int]]]:
    """Tokenize one conversation into one or more SFT examples (cut at turn boundaries).

    Args:
        tokenizer: a fast tokenizer (offset mapping required).
        messages: ``[system, user, assistant, ...]`` ending with an assistant turn.
        max_length: token budget of one example (``None``: no cut).
        fmt: the response tags.
        use_chat_template: see :func:`cotdiag.response.build_model_text`.

    Returns:
        ``[{"input_ids", "labels", "action_token_mask", "decision"}]``, each ``list[int]`` of one
        length ``L``: ``labels`` is ``-100`` outside the assistant turns trained in this example,
        ``action_token_mask`` is 1 on action tokens (the span rule), ``decision`` is the
        decision id (:func:`decision_ids`: the trained assistant turns numbered 0-based over the
        whole episode) of each trained token, ``-1`` elsewhere. Assistant turns marked
        ``"train": False`` stay in the text with no labels.
    """
    text, spans = conversation_spans(tokenizer, messages, fmt, use_chat_template)
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids, offsets = list(enc["input_ids"]), [tuple(o) for o in enc["offset_mapping"]]
    rank = decision_ids(messages)
    if max_length is None or len(ids) <= max_length:
        return [_example(ids, offsets, spans, range(len(spans)), rank)]
    return _chunks(tokenizer, messages, spans, rank, max_length, fmt, use_chat_template)


def decision_ids(messages: Sequence[dict[str, Any]]) -> list[int]:
    """Per assistant turn, its decision id: the turns without ``"train": False`` numbered 0, 1, ...
    in order; ``-1`` for the untrained ones (:mod:`cotdiag.baselines.recovery`'s failed actions)."""
    out, n = [], 0
    for m in messages:
        if m["role"] != "assistant":
            continue
        trained = m.get("train", True) is not False
        out.append(n if trained else -1)
        n += trained
    return out


def _example(ids: list[int], offsets: list[tuple[int, int]], spans: list[tuple[int, int, int, int]],
             trained: Sequence[int], rank: Sequence[int], first_turn: int = 0) -> dict[str, list[int]]:
    labels = [IGNORE_INDEX] * len(ids)
    action = [0] * len(ids)
    decision = [-1] * len(ids)
    for d in trained:
        if rank[d + first_turn] < 0:  # an untrained turn: context only
            continue
        start, end, a0, a1 = spans[d]
        amask = span_token_mask(offsets, a0, a1)
        for j, (s, _e) in enumerate(offsets):
            if start <= s < end:
                labels[j] = ids[j]
                decision[j] = rank[d + first_turn]
                action[j] = amask[j]
    return {"input_ids": ids, "labels": labels, "action_token_mask": action, "decision": decision}


def _chunks(tokenizer: Any, messages: Sequence[dict[str, str]], spans: list[tuple[int, int, int, int]],
            rank: Sequence[int], max_length: int, fmt: ResponseFormat, use_chat_template: bool | None) -> list[dict[str, list[int]]]:
    """Examples of at most ``max_length`` tokens: head (system, first user) + the latest turns that fit.

    Each example after the first keeps at most ``max_length // 2`` tokens of already-trained turns
    before its first new decision (always that decision's own observation), so a long episode
    costs about twice its length, not one example per decision.
    """
    def n_tokens(msgs: Sequence[dict[str, str]]) -> int:
        return len(tokenizer(conversation_text(tokenizer, msgs, use_chat_template=use_chat_template),
                             add_special_tokens=False)["input_ids"])

    head = list(messages[:2])
    n_dec = len(spans)
    out: list[dict[str, list[int]]] = []
    done = 0  # decisions trained so far
    while done < n_dec:
        # the tail starts at an assistant turn (message 2 + 2m) before decision `done`, so that
        # decision's own observation (message 1 + 2 * done) stays in the example
        m = 0
        while m < done - 1 and n_tokens(head + list(messages[2 + 2 * m : 3 + 2 * done])) > max_length // 2:
            m += 1
        last = done
        while last + 1 < n_dec and n_tokens(head + list(messages[2 + 2 * m : 3 + 2 * (last + 1)])) <= max_length:
            last += 1
        msgs = head + list(messages[2 + 2 * m : 3 + 2 * last])
        text, sub = conversation_spans(tokenizer, msgs, fmt, use_chat_template)
        enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        ids, offsets = list(enc["input_ids"]), [tuple(o) for o in enc["offset_mapping"]]
        trained = range(done - m, last - m + 1)  # indices into `sub`
        ex = _example(ids, offsets, sub, trained, rank, first_turn=m)
        if len(ids) > max_length:  # one turn alone is longer than the budget: keep its end
            cut = len(ids) - max_length
            ex = {k: v[cut:] for k, v in ex.items()}
        if any(lab != IGNORE_INDEX for lab in ex["labels"]):  # a chunk of untrained turns only adds nothing
            out.append(ex)
        done = last + 1
    return out


def conversation_states(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The decision states of conversation rows, as the diagnostics take them (one dict per decision).

    State ``i`` of an episode has ``prompt`` = :class:`~cotdiag.response.protocol.ConversationPrompt`
    of the CoT conversation up to its ``i``-th user turn (the model input before decision ``i``),
    ``prompt_for_prompt_mode`` the same in prompt mode, ``trace``, ``action``, ``task_id``,
    ``task_type``, ``seed``, ``step``, ``actions_before`` and ``admissible_actions`` (``[]`` for
    rows written before that column existed).

    Returns:
        ``list[dict]``, episodes in order, decisions in order.
    """
    out = []
    for r in rows:
        adm = r.get("admissible_actions") or [[] for _ in r["actions"]]
        for i, action in enumerate(r["actions"]):
            out.append({
                "prompt": ConversationPrompt(r["messages"][: 2 + 2 * i]),
                "prompt_for_prompt_mode": ConversationPrompt(r["messages_prompt_mode"][: 2 + 2 * i]),
                "trace": r["traces"][i], "action": action, "env": r.get("env", ""), "task_id": r["task_id"],
                "task_type": r.get("task_type", ""), "seed": r["seed"], "step": i,
                "actions_before": list(r["actions"][:i]), "admissible_actions": list(adm[i] or []),
            })
    return out
