"""Hand-built tiny Qwen2 models for the mechanistic tests."""

from __future__ import annotations

import torch
from transformers import Qwen2Config, Qwen2ForCausalLM

from cotdiag.diagnostics.attention import EncodedExample

VOCAB = 64
PROMPT_IDS = range(10, 20)
COT_IDS = range(20, 30)
ACTION_IDS = range(30, 40)
ACTION_TAG = 3


def config(**kw) -> Qwen2Config:
    base = dict(vocab_size=VOCAB, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=128,
                attn_implementation="eager", tie_word_embeddings=False)
    base.update(kw)
    return Qwen2Config(**base)


def example(n_prompt: int = 7, n_cot: int = 5, n_action: int = 3, seed: int = 0) -> EncodedExample:
    g = torch.Generator().manual_seed(seed)
    p = torch.randint(10, 20, (n_prompt,), generator=g)
    c = torch.randint(20, 30, (n_cot,), generator=g)
    a = torch.randint(30, 40, (n_action,), generator=g)
    ids = torch.cat([p, c, torch.tensor([ACTION_TAG]), a])
    span = torch.tensor([0] * n_prompt + [1] * n_cot + [2] * (1 + n_action))
    pos = torch.arange(n_prompt + n_cot + 1, len(ids))
    return EncodedExample(input_ids=ids[None], span_ids=span, action_positions=pos, rows=pos - 1)


def random_model(seed: int = 0, **kw) -> Qwen2ForCausalLM:
    torch.manual_seed(seed)
    m = Qwen2ForCausalLM(config(**kw))
    with torch.no_grad():  # larger weights than the default init, so gradients are not tiny
        for p in m.parameters():
            if p.dim() == 2:
                p.normal_(0, 0.3)
    return m.eval()


def prompt_only_model(uniform: bool = False) -> Qwen2ForCausalLM:
    """Every head of every layer attends only to prompt tokens (or uniformly with ``uniform``).

    Feature dimension 0 of the embedding is 1 for prompt-token ids and 0 otherwise; every query
    has a large constant component (q bias) on the head dimension that reads that feature through
    k_proj, so prompt keys score ~1e3 and all others 0. RoPE's lowest frequency (head dim 3 of 8)
    with ``rope_theta=1e12`` makes the rotation negligible. o_proj and the MLP output are zero, so
    every layer sees the embeddings. ``uniform=True`` zeroes q and k: every row is uniform.
    """
    torch.manual_seed(0)
    m = Qwen2ForCausalLM(config(rope_parameters={"rope_type": "default", "rope_theta": 1e12}))
    hd = 8
    with torch.no_grad():
        emb = torch.randn(VOCAB, 16) * 0.1
        emb[:, 0] = 0.0
        emb[list(PROMPT_IDS), 0] = 1.0
        m.model.embed_tokens.weight.copy_(emb)
        for layer in m.model.layers:
            at = layer.self_attn
            for lin in (at.q_proj, at.k_proj):
                lin.weight.zero_()
                lin.bias.zero_()
            if not uniform:
                for h in range(2):
                    at.k_proj.weight[h * hd + 3, 0] = 30.0
                    at.q_proj.bias[h * hd + 3] = 30.0
            at.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
    return m.eval()
