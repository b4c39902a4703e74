"""Gradient mass: how much of an action-only loss's gradient flows to the prompt vs the CoT.

Source: docs/concepts.md (arXiv 2606.26935), "Mechanistic analyses (action-only loss)", *Gradient mass*.

**Loss.** ``L = Σ_{j ∈ action tokens} −log p(x_j | x_{<j})`` (summed NLL of the action tokens
only; the prompt, the CoT and the action tag carry no loss). Shares are invariant to the scale of
``L``.

**Value path (α·δ).** In an attention head h of layer l the head output at query t is
``z_t = Σ_i α_{t,i} v_i``, so the gradient reaching value ``v_i`` *through query t* is
``∂L/∂v_i |_t = α_{t,i} · δ_t`` with ``δ_t = ∂L/∂z_t`` (the gradient at the head's output, i.e. at
the input of ``o_proj``, sliced per head). What we compute, per layer l and key position i::

    M_l[i] = Σ_h Σ_{t ∈ action rows} α^{l,h}_{t,i} · ||δ^{l,h}_t||_2

(the L2 norm of each per-path gradient ``α δ``, summed over heads and action query rows; action
rows as in :mod:`cotdiag.diagnostics.attention`). The prompt's share in layer l is
``Σ_{i∈prompt} M_l[i] / Σ_i M_l[i]``; the pooled share sums ``M_l`` over layers first. With
``exclude_first=True`` position 0 is left out of both sums. α are the attention probabilities of
the action rows (see :mod:`cotdiag.diagnostics.attribution` for the two ways they are obtained),
δ comes from autograd at the ``o_proj`` input (captured by a forward pre-hook on every attention
module's ``o_proj``).

Note: ``Σ_{all t} α_{t,i} δ_t`` is the full gradient ``∂L/∂v_i`` (for grouped-query attention,
summed over the query heads sharing the KV head); restricting t to the action rows keeps the
*direct* paths from the supervised rows, as in the paper's ``dL_t/dv_i = α_{t,i}·δ_t``. In the
last layer the two coincide, since only the action rows receive loss gradient there. The tests
check both identities against finite differences on a tiny model.

**Input-embedding cross-check.** ``G[i] = ||∂L/∂e_i||_2`` for the input embedding ``e_i`` of
position i; span share ``Σ_{i∈span} G[i] / Σ_i G[i]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from cotdiag.diagnostics.common import SPANS

if TYPE_CHECKING:
    import torch


def value_path_masses(
    attentions: Sequence[torch.Tensor], deltas: Sequence[torch.Tensor], rows: torch.Tensor, *, sliced: bool = False
) -> torch.Tensor:
    """Per-layer, per-key value-path gradient mass ``M[l, i]`` (see the module docstring).

    Args:
        attentions: per layer, ``FloatTensor [H, T, T]`` attention probabilities.
        deltas: per layer, ``FloatTensor [T, H, d_head]``: ``∂L/∂z`` at the ``o_proj`` input,
            reshaped per head.
        rows: ``LongTensor [R]``, action query rows.
        sliced: ``attentions`` are ``[H, R, T]`` and ``deltas`` ``[R, H, d_head]`` (action rows only,
            in the order of ``rows``).

    Returns:
        ``FloatTensor [L, T]`` (float32, ≥ 0), unit: gradient norm (loss units per activation unit).
    """
    import torch

    out = []
    for a, d in zip(attentions, deltas, strict=True):
        a = a.detach().to(torch.float32)
        d = d.detach().to(torch.float32)
        a = a if sliced else a[:, rows, :]  # [H, R, T]
        dn = (d if sliced else d[rows]).norm(dim=-1).transpose(0, 1)  # [H, R]
        out.append((a * dn.unsqueeze(-1)).sum(dim=(0, 1)))  # [T]
    return torch.stack(out)


def span_shares(masses: torch.Tensor, span_ids: torch.Tensor, *, exclude_first: bool = False) -> dict[str, float]:
    """Share of a non-negative mass vector ``[T]`` per span (fractions summing to 1 over SPANS)."""
    import torch

    m = masses.detach().to(torch.float32).clone()
    if exclude_first:
        m[0] = 0.0
    tot = float(m.sum())
    return {name: (float(m[span_ids == k].sum()) / tot if tot > 0 else float("nan")) for k, name in enumerate(SPANS)}


def gradient_shares(
    attentions: Sequence[torch.Tensor],
    deltas: Sequence[torch.Tensor] | None,
    embed_grad: torch.Tensor,
    span_ids: torch.Tensor,
    rows: torch.Tensor,
    *,
    exclude_first: bool = False,
    sliced: bool = False,
) -> dict[str, Any]:
    """Value-path (α·δ) and input-embedding gradient shares per span.

    Args:
        attentions, deltas, rows: see :func:`value_path_masses`.
        embed_grad: ``FloatTensor [T, d_model]``, ``∂L/∂e`` of the input embeddings.
        span_ids: ``LongTensor [T]``.
        exclude_first: leave position 0 out (attention sink).
        sliced: see :func:`value_path_masses`.

    Returns:
        ``{"value_path": {span: share}, "value_path_per_layer": {span: [share per layer]},
        "embedding": {span: share}}``; every group of shares sums to 1 over :data:`SPANS`. With
        ``deltas=None`` (architecture without ``o_proj``) only ``"embedding"``.
    """
    emb = span_shares(embed_grad.detach().float().norm(dim=-1), span_ids, exclude_first=exclude_first)
    if deltas is None:
        return {"embedding": emb}
    masses = value_path_masses(attentions, deltas, rows, sliced=sliced)  # [L, T]
    per_layer = [span_shares(masses[k], span_ids, exclude_first=exclude_first) for k in range(masses.shape[0])]
    return {
        "value_path": span_shares(masses.sum(0), span_ids, exclude_first=exclude_first),
        "value_path_per_layer": {name: [p[name] for p in per_layer] for name in SPANS},
        "embedding": emb,
    }
