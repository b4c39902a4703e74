"""Attention mass: where the action-token query rows attend (prompt vs CoT).

Source: docs/concepts.md (arXiv 2606.26935), "Mechanistic analyses (action-only loss)", *Attention mass*.

An analysed sequence is ``prompt + <think>trace</think> + <action> + action`` (see
:func:`encode_example`), split into the spans of :data:`cotdiag.diagnostics.common.SPANS`:
``prompt``, ``cot`` (the think tags and the trace) and ``action`` (the action tag and the action
tokens). The *action-token query rows* are the positions whose next-token logits predict an action
token: from the action tag's last token to the second-to-last action token. These are exactly the
rows an action-only loss supervises.

For layer l, head h and action row t, ``α[l,h,t,:]`` is the softmax attention distribution over
keys ``0..t``. The span share of layer l is ``mean_{h,t} Σ_{i∈span} α[l,h,t,i]`` (total mass, not
divided by span length); the reported share averages that over layers too. With
``exclude_first=True`` the first key (position 0, where attention sinks collect) is dropped and
each row renormalised over the remaining keys before the sums. Shares over the three spans sum to 1.

*Top-K% share*: pool attention over layers, heads and action rows into one distribution over keys,
take the ``ceil(K/100 · n_keys)`` most-attended key positions (``n_keys``: keys the rows can see),
and report the fraction of them inside the prompt.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cotdiag.diagnostics.common import SPANS
from cotdiag.error import InvalidConfigError
from cotdiag.response.format import DEFAULT_FORMAT, ResponseFormat
from cotdiag.response.protocol import span_token_mask

if TYPE_CHECKING:
    import torch


@dataclass
class EncodedExample:
    """One tokenised example with its span labels.

    Attributes:
        input_ids: ``LongTensor [1, T]``.
        span_ids: ``LongTensor [T]``: index into :data:`SPANS` of each token (0 prompt, 1 cot,
            2 action).
        action_positions: ``LongTensor [A]``: positions of the action tokens (the tag excluded).
        rows: ``LongTensor [A]``: the action-token query rows, ``action_positions - 1``.
    """

    input_ids: torch.Tensor
    span_ids: torch.Tensor
    action_positions: torch.Tensor
    rows: torch.Tensor

    @property
    def span_lengths(self) -> dict[str, int]:
        """Tokens per span."""
        return {name: int((self.span_ids == k).sum()) for k, name in enumerate(SPANS)}


def encode_example(
    tokenizer: Any, prompt: str, trace: str, action: str, fmt: ResponseFormat = DEFAULT_FORMAT,
    *, max_prompt_tokens: int | None = None,
) -> EncodedExample:
    """Tokenise ``prompt + <think>trace</think><action>action`` and label each token's span.

    The text is tokenised as one string (as in training and generation); a token belongs to the
    span containing its first character (fast-tokenizer offsets). Action tokens are those of the
    protocol's span rule (:func:`cotdiag.response.protocol.span_token_mask`, the rule SFT labels and
    episode-GRPO masks use): every token overlapping ``action``, so a token straddling
    ``<action>go`` is measured as an action token, as it is trained as one. The closing action tag is not part of
    the sequence (nothing after the last action token affects the action rows). With
    ``max_prompt_tokens``, a longer prompt span keeps its last ``max_prompt_tokens`` tokens (the
    left truncation of :class:`cotdiag.agents.hf.HFPolicy`, so the model sees what it acts on).

    Raises:
        ValueError: the tokenizer is not a fast tokenizer (no offsets), or the action is empty.
    """
    import torch

    if not action:
        raise InvalidConfigError("expected a non-empty action")
    cot = f"{fmt.think_open}{trace}{fmt.think_close}"
    text = f"{prompt}{cot}{fmt.action_open}{action}"
    b_cot = len(prompt)
    b_action = b_cot + len(cot)
    b_act_tokens = b_action + len(fmt.action_open)
    if not getattr(tokenizer, "is_fast", False):
        raise InvalidConfigError("expected a fast tokenizer (offset mapping), got a slow one")
    # No special tokens added: the text comes from build_model_text (a chat template writes its
    # own), exactly as generation and SFT tokenize it.
    enc = tokenizer(text, return_offsets_mapping=True, add_special_tokens=False)
    ids, offsets = enc["input_ids"], enc["offset_mapping"]
    span = [0 if s < b_cot else 1 if s < b_action else 2 for s, _e in offsets]
    act = [pos for pos, m in enumerate(span_token_mask(offsets, b_act_tokens, len(text))) if m]
    n_prompt = span.count(0)
    if max_prompt_tokens is not None and n_prompt > max_prompt_tokens:
        drop = n_prompt - max_prompt_tokens
        ids, span, act = ids[drop:], span[drop:], [p - drop for p in act]
    if not act or act[0] == 0:
        raise InvalidConfigError(f"no action tokens found for action {action!r}")
    act_t = torch.tensor(act, dtype=torch.long)
    return EncodedExample(
        input_ids=torch.tensor([ids], dtype=torch.long),
        span_ids=torch.tensor(span, dtype=torch.long),
        action_positions=act_t,
        rows=act_t - 1,
    )


def _key_mask(n_keys: int, exclude_first: bool) -> torch.Tensor:
    import torch

    m = torch.ones(n_keys, dtype=torch.float32)
    if exclude_first:
        m[0] = 0.0
    return m


def attention_shares(
    attentions: Sequence[torch.Tensor],
    span_ids: torch.Tensor,
    rows: torch.Tensor,
    *,
    exclude_first: bool = False,
    top_k_percent: float = 10.0,
    sliced: bool = False,
) -> dict[str, Any]:
    """Span shares of the attention of the action rows, per layer and averaged.

    Args:
        attentions: one ``FloatTensor [H, T, T]`` per layer (batch dimension removed): softmax
            attention probabilities, rows = queries, columns = keys (``output_attentions`` of an
            eager-attention model); with ``sliced=True``, ``[H, R, T]``: only the action rows,
            in the order of ``rows`` (what :func:`cotdiag.diagnostics.attribution.attribute`
            captures by default).
        span_ids: ``LongTensor [T]``, span index of each position (see :class:`EncodedExample`).
        rows: ``LongTensor [R]``, the action-token query rows.
        exclude_first: drop key 0 (attention sink) and renormalise each row.
        top_k_percent: K of the top-K% share.
        sliced: ``attentions`` hold only the action rows.

    Returns:
        ``{"per_layer": {span: [share per layer]}, "mean": {span: share}, "topk_prompt_share":
        float, "topk_prompt_share_per_layer": [float]}``; shares are fractions in [0, 1], and for
        each layer (and the mean) they sum to 1 over :data:`SPANS`.
    """
    import torch

    n_spans = len(SPANS)
    onehot = torch.nn.functional.one_hot(span_ids, n_spans).to(torch.float32)  # [T, S]
    rows = rows.to(torch.long)
    n_keys = int(rows.max()) + 1
    mask = _key_mask(n_keys, exclude_first)
    per_layer, pooled_sum, topk_layers = [], torch.zeros(n_keys), []
    for a in attentions:
        a = a.detach().to(torch.float32)
        a = (a if sliced else a[:, rows])[:, :, :n_keys] * mask  # [H, R, K]
        a = a / a.sum(-1, keepdim=True).clamp_min(1e-30)
        per_layer.append((a @ onehot[:n_keys]).mean(dim=(0, 1)))  # [S]
        dist = a.mean(dim=(0, 1))  # [K]
        pooled_sum += dist
        topk_layers.append(_topk_prompt_share(dist, span_ids[:n_keys], mask, top_k_percent))
    shares = torch.stack(per_layer)  # [L, S]
    return {
        "per_layer": {name: shares[:, k].tolist() for k, name in enumerate(SPANS)},
        "mean": {name: float(shares[:, k].mean()) for k, name in enumerate(SPANS)},
        "topk_prompt_share": _topk_prompt_share(pooled_sum / len(per_layer), span_ids[:n_keys], mask, top_k_percent),
        "topk_prompt_share_per_layer": topk_layers,
    }


def _topk_prompt_share(dist: torch.Tensor, span_ids: torch.Tensor, mask: torch.Tensor, k_percent: float) -> float:
    """Fraction of the top-``k_percent``% keys of ``dist`` (``[K]``) that lie in the prompt."""
    import torch

    valid = mask > 0
    n = int(valid.sum())
    k = max(1, math.ceil(k_percent / 100.0 * n))
    d = torch.where(valid, dist, torch.full_like(dist, -1.0))
    top = torch.topk(d, k).indices
    return float((span_ids[top] == 0).float().mean())
