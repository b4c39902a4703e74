"""Gradient mass: shares sum to 1 and the α·δ ingredients agree with finite differences."""

import pytest
import torch

from cotdiag.diagnostics.attribution import action_loss, attention_modules, attribute
from cotdiag.diagnostics.gradient import value_path_masses
from tests.diagnostics.tiny_models import example, random_model

EPS = 1e-2  # eager attention runs its softmax in float32 even for float64 models


@pytest.fixture(scope="module")
def setup():
    model = random_model(seed=2, num_attention_heads=4, num_key_value_heads=2).double()
    ex = example(seed=3)
    res = attribute(model, ex, return_tensors=True)
    return model, ex, res


def _loss(model, ex, embeds=None):
    with torch.no_grad():
        if embeds is None:
            out = model(input_ids=ex.input_ids, use_cache=False)
        else:
            out = model(inputs_embeds=embeds, use_cache=False)
        return float(action_loss(out.logits[0], ex.input_ids[0], ex.action_positions))


def test_shares_sum_to_one(setup):
    _, _, res = setup
    for key in ("gradient", "gradient_no_sink"):
        for group in ("value_path", "embedding"):
            assert sum(res[key][group].values()) == pytest.approx(1.0, abs=1e-6)
            assert all(0.0 <= v <= 1.0 for v in res[key][group].values())
        per = res[key]["value_path_per_layer"]
        for layer in range(len(per["prompt"])):
            assert sum(per[s][layer] for s in per) == pytest.approx(1.0, abs=1e-6)


def test_embedding_gradient_matches_finite_differences(setup):
    model, ex, res = setup
    g = res["tensors"]["embed_grad"]
    base = model.get_input_embeddings()(ex.input_ids).detach()
    for pos, dim in [(0, 1), (4, 7), (9, 3), (12, 0)]:
        e_plus, e_minus = base.clone(), base.clone()
        e_plus[0, pos, dim] += EPS
        e_minus[0, pos, dim] -= EPS
        fd = (_loss(model, ex, e_plus) - _loss(model, ex, e_minus)) / (2 * EPS)
        assert g[pos, dim].item() == pytest.approx(fd, rel=2e-3, abs=1e-4)


def _value_fd(model, ex, layer, pos, dim):
    v_proj = attention_modules(model)[layer].v_proj
    out = []
    for sign in (1, -1):
        def hook(_m, _args, o, sign=sign):
            o = o.clone()
            o[0, pos, dim] += sign * EPS
            return o
        h = v_proj.register_forward_hook(hook)
        try:
            out.append(_loss(model, ex))
        finally:
            h.remove()
    return (out[0] - out[1]) / (2 * EPS)


def test_alpha_delta_is_the_value_gradient(setup):
    """Σ_t α[h,t,i] δ[t,h] summed over the query heads of a KV group equals ∂L/∂v_i (finite diff.)."""
    model, ex, res = setup
    attn, deltas = res["tensors"]["attentions"], res["tensors"]["deltas"]
    d_head, group = 4, 2  # 4 query heads, 2 KV heads, head_dim 16/4
    for layer in range(2):
        a = attn[layer].double()  # [H, T, T]
        d = deltas[layer].double()  # [T, H, dh]
        grad_v = torch.einsum("hti,thd->ihd", a, d)  # [T, H, dh]: Σ_t α_{t,i} δ_t per query head
        for pos, kv, dim in [(0, 0, 1), (5, 1, 2), (11, 0, 3)]:
            analytic = grad_v[pos, kv * group:(kv + 1) * group, dim].sum().item()
            fd = _value_fd(model, ex, layer, pos, kv * d_head + dim)
            assert analytic == pytest.approx(fd, rel=2e-3, abs=1e-4)
        if layer == 1:  # last layer: only the action rows carry gradient
            rows_only = torch.einsum("hti,thd->ihd", a[:, ex.rows], d[ex.rows])
            assert torch.allclose(rows_only, grad_v, atol=1e-6)
    masses = value_path_masses(attn, deltas, ex.rows)
    assert masses.shape == (2, ex.input_ids.shape[1]) and bool((masses >= 0).all())
