"""One forward and one backward pass that feed both the attention and the gradient analyses.

:func:`attribute` runs the model once on an :class:`~cotdiag.diagnostics.attention.EncodedExample`,
computes the action-only loss, and takes ``torch.autograd.grad`` of it with respect to the input
embeddings and the ``o_proj`` inputs only (no parameter gradients are formed). Only the action
query rows of the attention maps and of the ``o_proj`` gradients are kept.

Attention probabilities of the action rows come from one of two paths:

* **rows** (default, models using transformers' ``AttentionInterface``, e.g. Llama, Qwen2/3,
  Mistral, Gemma): the model runs its fast SDPA kernel, and a registered attention function
  (:data:`ROWS_ATTENTION`) also computes ``softmax(q_r k^T / sqrt(d) + mask)`` for the action rows
  ``r`` only, from the same (RoPE-applied) queries and keys. Memory is ``O(H * R * T)`` per layer
  instead of ``O(H * T^2)``, which is what makes 8B models at long contexts feasible.
* **eager** (``return_tensors=True``, or models outside that interface such as GPT-2): eager
  attention with ``output_attentions=True``; the full maps are then available.

Both give the same numbers (tested). The model's attention implementation is restored afterwards.
Works with any Hugging Face causal LM whose attention modules have an ``o_proj`` submodule fed with
the concatenated head outputs; other architectures that return attentions (e.g. GPT-2) get the
attention and input-embedding analyses, without the value-path gradient.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from cotdiag.diagnostics.attention import EncodedExample, attention_shares
from cotdiag.diagnostics.gradient import gradient_shares
from cotdiag.error import InvalidConfigError

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)


#: Name under which :func:`rows_attention_forward` is registered in transformers' AttentionInterface.
ROWS_ATTENTION = "cotdiag_action_rows"


class _RowsCapture:
    """The query rows to keep, and the per-layer ``[B, H, R, T]`` probabilities captured so far."""

    rows: torch.Tensor | None = None
    captured: list[torch.Tensor] = []


def rows_attention_forward(module: Any, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                           attention_mask: torch.Tensor | None, scaling: float | None = None,
                           dropout: float = 0.0, **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """SDPA attention that also records the attention probabilities of :attr:`_RowsCapture.rows`.

    ``query`` is ``[B, H, T, d]``, ``key``/``value`` ``[B, H_kv, T, d]`` (grouped-query heads are
    repeated). The recorded probabilities, ``[B, H, R, T]`` in the query dtype, apply the causal
    mask and, when given, ``attention_mask`` (boolean "may attend" or additive float).
    """
    import torch
    from transformers.integrations.sdpa_attention import repeat_kv, sdpa_attention_forward

    out, _ = sdpa_attention_forward(module, query, key, value, attention_mask, scaling=scaling, dropout=dropout, **kwargs)
    rows = _RowsCapture.rows
    if rows is None:
        return out, None
    keys = repeat_kv(key, query.shape[1] // key.shape[1])
    scale = scaling if scaling is not None else query.shape[-1] ** -0.5
    logits = (query[:, :, rows].float() @ keys.float().transpose(2, 3)) * scale  # [B, H, R, T]
    n_keys = keys.shape[2]
    future = torch.arange(n_keys, device=query.device)[None, :] > rows.to(query.device)[:, None]  # [R, T]
    logits = logits.masked_fill(future, float("-inf"))
    if attention_mask is not None:
        m = attention_mask[:, :, rows, :n_keys]
        logits = logits.masked_fill(~m, float("-inf")) if m.dtype == torch.bool else logits + m.float()
    probs = torch.softmax(logits, dim=-1).to(query.dtype)
    _RowsCapture.captured.append(probs)
    return out, probs


def _register_rows_attention() -> bool:
    """Register :func:`rows_attention_forward` (once); ``False`` if this transformers lacks the interface."""
    try:
        from transformers import AttentionInterface
    except ImportError:  # pragma: no cover - transformers < 4.48
        return False
    if ROWS_ATTENTION not in AttentionInterface._global_mapping:
        AttentionInterface.register(ROWS_ATTENTION, rows_attention_forward)
    return True


def use_eager_attention(model: Any) -> None:
    """Switch ``model`` to eager attention (needed for ``output_attentions``) if it is not already."""
    if getattr(model.config, "_attn_implementation", None) == "eager":
        return
    if hasattr(model, "set_attn_implementation"):
        model.set_attn_implementation("eager")
    else:  # older transformers
        model.config._attn_implementation = "eager"


def attention_modules(model: Any) -> list[Any]:
    """The attention modules (those with ``o_proj`` and ``v_proj``), in layer order.

    Raises:
        InvalidConfigError: none found (unsupported architecture).
    """
    mods = [m for _, m in model.named_modules() if hasattr(m, "o_proj") and hasattr(m, "v_proj")]
    if not mods:
        raise InvalidConfigError(
            f"expected attention modules with o_proj/v_proj (Llama/Qwen/Mistral style), found none in {type(model).__name__}"
        )
    return mods


def action_loss(logits: torch.Tensor, input_ids: torch.Tensor, action_positions: torch.Tensor) -> torch.Tensor:
    """Action-only loss: ``Σ_{j∈action} −log softmax(logits[j−1])[x_j]`` (nats, scalar).

    Args:
        logits: ``FloatTensor [T, V]``.
        input_ids: ``LongTensor [T]``.
        action_positions: ``LongTensor [A]``.

    Computed in float32 at least (float64 when the logits are float64).
    """
    import torch

    x = logits[action_positions - 1]
    lp = torch.log_softmax(x.to(torch.promote_types(x.dtype, torch.float32)), dim=-1)
    return -lp.gather(-1, input_ids[action_positions].unsqueeze(-1)).sum()


def attribute(
    model: Any,
    example: EncodedExample,
    *,
    top_k_percent: float = 10.0,
    return_tensors: bool = False,
    attention_path: str = "auto",
) -> dict[str, Any]:
    """Attention and gradient span shares of one example, with and without the first token.

    ``attention_path``: ``"rows"`` (SDPA plus the action rows' probabilities, see the module
    docstring), ``"eager"`` (full maps), or ``"auto"``: rows where the model supports it and
    ``return_tensors`` is false, else eager.

    Raises:
        InvalidConfigError: unknown ``attention_path``; ``"rows"`` with ``return_tensors`` or on a
            model outside transformers' AttentionInterface; or a model that returns no attentions.

    Returns:
        ``{"loss_nats": float, "span_lengths": {...}, "attention": {...}, "attention_no_sink":
        {...}, "gradient": {...}, "gradient_no_sink": {...}}`` where the attention entries are
        :func:`~cotdiag.diagnostics.attention.attention_shares` and the gradient entries
        :func:`~cotdiag.diagnostics.gradient.gradient_shares` (``*_no_sink``: first token
        excluded). With ``return_tensors=True`` also ``"tensors"``: ``attentions`` (per layer
        ``[H, T, T]``), ``deltas`` (per layer ``[T, H, d_head]``) and ``embed_grad`` (``[T, d]``).
    """
    import torch

    if attention_path not in ("auto", "rows", "eager"):
        raise InvalidConfigError(f"expected attention_path in ['auto', 'rows', 'eager'], got {attention_path!r}")
    if attention_path == "rows" and return_tensors:
        raise InvalidConfigError("return_tensors needs the full attention maps: use attention_path='eager'")
    previous = getattr(model.config, "_attn_implementation", None)
    try:
        mods = attention_modules(model)
    except InvalidConfigError:  # e.g. GPT-2 (c_proj): attention and embedding gradients only
        logger.warning("%s has no o_proj attention outputs: value-path gradient mass skipped", type(model).__name__)
        mods = []
    rows_path = (attention_path != "eager" and not return_tensors and bool(mods)
                 and hasattr(model, "set_attn_implementation") and _register_rows_attention())
    if rows_path:
        model.set_attn_implementation(ROWS_ATTENTION)
    else:
        if attention_path == "rows":
            raise InvalidConfigError(f"{type(model).__name__} cannot use the rows attention path")
        use_eager_attention(model)
    captured: list[torch.Tensor] = []
    hooks = [m.o_proj.register_forward_pre_hook(lambda _m, args: captured.append(args[0])) for m in mods]
    dev = next(model.parameters()).device
    ids = example.input_ids.to(dev)
    _RowsCapture.rows, _RowsCapture.captured = (example.rows.to(dev) if rows_path else None), []
    try:
        embeds = model.get_input_embeddings()(ids).detach().requires_grad_(True)
        out = model(inputs_embeds=embeds, output_attentions=not rows_path, use_cache=False)
        row_probs = list(_RowsCapture.captured)
    finally:
        _RowsCapture.rows, _RowsCapture.captured = None, []
        for h in hooks:
            h.remove()
        if previous and previous != model.config._attn_implementation and hasattr(model, "set_attn_implementation"):
            model.set_attn_implementation(previous)  # generation keeps its fast kernel
    if rows_path and len(row_probs) != len(mods):  # the model does not dispatch through AttentionInterface
        if attention_path == "rows":
            raise InvalidConfigError(f"{type(model).__name__} does not call transformers' attention functions")
        logger.info("%s bypasses transformers' attention functions: using eager attention", type(model).__name__)
        return attribute(model, example, top_k_percent=top_k_percent, attention_path="eager")
    if not rows_path and (out.attentions is None or (mods and len(out.attentions) != len(captured))):
        raise InvalidConfigError("the model returned no attentions (needs eager attention)")
    loss = action_loss(out.logits[0], ids[0], example.action_positions.to(dev))
    grads = torch.autograd.grad(loss, [embeds, *captured])
    rows_dev = example.rows.to(dev)
    n_heads = (row_probs[0] if rows_path else out.attentions[0]).shape[1]
    # Keep only the action rows ([H, R, T] and [R, H, d_head]) unless the caller wants everything.
    sl = slice(None) if return_tensors else rows_dev
    if rows_path:
        attn = [p[0].detach().float().cpu() for p in row_probs]  # already the action rows: [H, R, T]
    else:
        attn = [a[0][:, sl].detach().float().cpu() for a in out.attentions]
    deltas = None if not mods else [g[0][sl].detach().float().cpu().reshape(-1, n_heads, g.shape[-1] // n_heads) for g in grads[1:]]
    eg = grads[0][0].detach().float().cpu()
    del out, grads
    captured.clear()
    span_ids, rows = example.span_ids, example.rows
    kw = {"sliced": not return_tensors}
    res: dict[str, Any] = {
        "loss_nats": float(loss.detach()),
        "span_lengths": example.span_lengths,
        "attention": attention_shares(attn, span_ids, rows, top_k_percent=top_k_percent, **kw),
        "attention_no_sink": attention_shares(attn, span_ids, rows, exclude_first=True, top_k_percent=top_k_percent, **kw),
        "gradient": gradient_shares(attn, deltas, eg, span_ids, rows, **kw),
        "gradient_no_sink": gradient_shares(attn, deltas, eg, span_ids, rows, exclude_first=True, **kw),
    }
    if return_tensors:
        res["tensors"] = {"attentions": attn, "deltas": deltas or [], "embed_grad": eg}
    return res


def summarize_attribution(results: list[dict[str, Any]], *, seed: int = 0) -> dict[str, Any]:
    """Mean over examples of :func:`attribute` results, each with n and a bootstrap 95% CI.

    Keys (``{sink}`` is ``""`` with all positions, ``"_no_sink"`` with the first token excluded):
    ``attention{sink}/{span}_share`` (mean over examples of the layer-and-head-averaged share),
    ``attention{sink}/topk_prompt_share``, ``gradient{sink}/value_path_{span}_share``,
    ``gradient{sink}/embedding_{span}_share``; and per-layer lists under
    ``per_layer/attention{sink}/{span}`` and ``per_layer/gradient{sink}/{span}`` (means over
    examples, one number per layer, plus ``..._ci95``). Unit: fraction of mass in [0, 1].
    Source: docs/concepts.md (arXiv 2606.26935), "Mechanistic analyses (action-only loss)".
    """
    from cotdiag.diagnostics.common import SPANS, mean_ci

    out: dict[str, Any] = {}
    if not results:
        return out
    for sink in ("", "_no_sink"):
        att = [r[f"attention{sink}"] for r in results]
        grd = [r[f"gradient{sink}"] for r in results]
        for span in SPANS:
            out[f"attention{sink}/{span}_share"] = mean_ci([a["mean"][span] for a in att], seed=seed)
            if all("value_path" in g for g in grd):
                out[f"gradient{sink}/value_path_{span}_share"] = mean_ci([g["value_path"][span] for g in grd], seed=seed)
            out[f"gradient{sink}/embedding_{span}_share"] = mean_ci([g["embedding"][span] for g in grd], seed=seed)
        out[f"attention{sink}/topk_prompt_share"] = mean_ci([a["topk_prompt_share"] for a in att], seed=seed)
        for span in ("prompt", "cot"):
            groups = [("attention", [a["per_layer"][span] for a in att])]
            if all("value_path_per_layer" in g for g in grd):
                groups.append(("gradient", [g["value_path_per_layer"][span] for g in grd]))
            for name, per in groups:
                layers = [mean_ci([p[k] for p in per], seed=seed) for k in range(len(per[0]))]
                out[f"per_layer/{name}{sink}/{span}"] = [x["value"] for x in layers]
                out[f"per_layer/{name}{sink}/{span}_ci95"] = [x["ci95"] for x in layers]
    out["attribution/examples"] = len(results)
    out["attribution/mean_tokens"] = {
        s: sum(r["span_lengths"][s] for r in results) / len(results) for s in SPANS
    }
    return out


def attribution_summary(
    model: Any,
    tokenizer: Any,
    states: Sequence[Mapping[str, Any]],
    *,
    top_k_percent: float = 10.0,
    seed: int = 0,
    use_chat_template: bool | None = None,
    max_prompt_tokens: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Attention and gradient mass over ``states`` (teacher-forced on the expert trace and action).

    Each state becomes ``build_model_text(tokenizer, prompt) + <think>trace</think><action>action``
    (the exact model input of ``HFPolicy`` in CoT mode, see :func:`cotdiag.response.build_model_text`),
    analysed by :func:`cotdiag.diagnostics.attribution.attribute`; results are averaged by
    :func:`cotdiag.diagnostics.attribution.summarize_attribution`. ``max_prompt_tokens``: the
    policy's prompt truncation (see :func:`cotdiag.diagnostics.attention.encode_example`).
    ``progress(1)`` is called after each example.
    """
    from cotdiag.diagnostics.attention import encode_example
    from cotdiag.response.prompt import build_model_text

    results = []
    for s in states:
        if not s.get("trace") or not s.get("action"):
            continue
        text = build_model_text(tokenizer, s["prompt"], "", use_chat_template=use_chat_template)
        ex = encode_example(tokenizer, text, s["trace"], s["action"], max_prompt_tokens=max_prompt_tokens)
        results.append(attribute(model, ex, top_k_percent=top_k_percent))
        if progress:
            progress(1)
    return summarize_attribution(results, seed=seed)
