import pytest
import torch

from cotdiag.diagnostics.attribution import attribute
from tests.diagnostics.tiny_models import example, prompt_only_model, random_model


def test_prompt_only_model_gives_prompt_share_one():
    res = attribute(prompt_only_model(), example())
    for key in ("attention", "attention_no_sink"):
        assert res[key]["mean"]["prompt"] == pytest.approx(1.0, abs=1e-6)
        assert all(v == pytest.approx(1.0, abs=1e-6) for v in res[key]["per_layer"]["prompt"])
        assert res[key]["topk_prompt_share"] == 1.0


def test_uniform_attention_gives_length_fractions():
    ex = example(n_prompt=7, n_cot=5, n_action=3)
    res = attribute(prompt_only_model(uniform=True), ex)
    rows = ex.rows.tolist()  # query rows 12, 13, 14 see 13, 14, 15 keys
    expected = sum(7 / (t + 1) for t in rows) / len(rows)
    expected_ns = sum(6 / t for t in rows) / len(rows)
    assert res["attention"]["mean"]["prompt"] == pytest.approx(expected, abs=1e-5)
    assert res["attention_no_sink"]["mean"]["prompt"] == pytest.approx(expected_ns, abs=1e-5)
    cot = sum(5 / (t + 1) for t in rows) / len(rows)
    assert res["attention"]["mean"]["cot"] == pytest.approx(cot, abs=1e-5)


def test_shares_sum_to_one_on_random_model():
    res = attribute(random_model(num_attention_heads=4, num_key_value_heads=2), example(seed=1))
    for key in ("attention", "attention_no_sink"):
        assert sum(res[key]["mean"].values()) == pytest.approx(1.0, abs=1e-5)
        per = res[key]["per_layer"]
        for layer in range(len(per["prompt"])):
            assert sum(per[s][layer] for s in per) == pytest.approx(1.0, abs=1e-5)
        assert 0.0 <= res[key]["topk_prompt_share"] <= 1.0
    assert res["span_lengths"] == {"prompt": 7, "cot": 5, "action": 4}
    assert torch.isfinite(torch.tensor(res["loss_nats"]))


def test_sliced_and_full_tensors_agree_and_attention_kernel_is_restored():
    model = random_model(seed=4, num_attention_heads=4, num_key_value_heads=2)
    model.set_attn_implementation("sdpa")
    ex = example(seed=5)
    full = attribute(model, ex, return_tensors=True)
    assert model.config._attn_implementation == "sdpa"
    sliced = attribute(model, ex)
    for key in ("attention", "attention_no_sink", "gradient", "gradient_no_sink"):
        assert _flat(sliced[key]) == pytest.approx(_flat(full[key]))


def _flat(d, prefix=""):
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}/"))
        elif isinstance(v, list):
            out.update({f"{prefix}{k}/{i}": x for i, x in enumerate(v)})
        else:
            out[f"{prefix}{k}"] = v
    return out


def test_gpt2_gets_attention_and_embedding_gradient():
    from transformers import GPT2Config, GPT2LMHeadModel

    from cotdiag.diagnostics.attribution import summarize_attribution

    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=64, n_positions=64, n_embd=16, n_layer=2, n_head=2)).eval()
    res = attribute(model, example())
    assert sum(res["attention"]["mean"].values()) == pytest.approx(1.0, abs=1e-5)
    assert sum(res["gradient"]["embedding"].values()) == pytest.approx(1.0, abs=1e-5)
    assert "value_path" not in res["gradient"]
    summ = summarize_attribution([res])
    assert "attention/prompt_share" in summ and "gradient/value_path_prompt_share" not in summ


@pytest.mark.parametrize("kv_heads", [4, 2, 1])
def test_rows_path_equals_eager_path(kv_heads):
    """SDPA plus action-row probabilities gives the eager path's numbers (grouped-query heads too)."""
    from cotdiag.diagnostics.attribution import ROWS_ATTENTION, _RowsCapture

    model = random_model(seed=kv_heads, num_attention_heads=4, num_key_value_heads=kv_heads)
    model.set_attn_implementation("sdpa")
    ex = example(n_prompt=9, n_cot=6, n_action=3, seed=kv_heads)
    rows = attribute(model, ex, attention_path="rows")
    eager = attribute(model, ex, attention_path="eager")
    assert model.config._attn_implementation == "sdpa" and ROWS_ATTENTION != "sdpa"
    assert _RowsCapture.rows is None and _RowsCapture.captured == []
    for key in ("attention", "attention_no_sink", "gradient", "gradient_no_sink"):
        assert _flat(rows[key]) == pytest.approx(_flat(eager[key]), abs=1e-5)
    assert rows["loss_nats"] == pytest.approx(eager["loss_nats"], rel=1e-5)


def test_rows_path_refuses_full_tensors_and_unknown_paths():
    from cotdiag.error import InvalidConfigError

    model, ex = random_model(seed=1), example()
    with pytest.raises(InvalidConfigError):
        attribute(model, ex, attention_path="rows", return_tensors=True)
    with pytest.raises(InvalidConfigError):
        attribute(model, ex, attention_path="flash")


def test_a_token_straddling_the_action_tag_is_an_action_token():
    """The attention diagnostic measures the tokens SFT trains as action tokens (the protocol's span
    rule, ``span_token_mask``): ``>go`` starts inside the tag but overlaps the action."""
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    from cotdiag.diagnostics.attention import encode_example
    from cotdiag.response.protocol import span_token_mask

    prompt, trace, action = "p ", "t", "go"
    text = f"{prompt}<think>{trace}</think><action>{action}"
    vocab = {c: i for i, c in enumerate(sorted(set(text)))}
    vocab.update({">g": len(vocab), ">go": len(vocab) + 1})
    tok = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.BPE(vocab, [(">", "g"), (">g", "o")])))
    enc = tok(text, return_offsets_mapping=True, add_special_tokens=False)
    assert tok.convert_ids_to_tokens(enc["input_ids"])[-1] == ">go"
    ex = encode_example(tok, prompt, trace, action)
    start = len(text) - len(action)
    assert ex.action_positions.tolist() == [i for i, m in enumerate(span_token_mask(enc["offset_mapping"], start, len(text))) if m]
    assert ex.action_positions.tolist() == [len(enc["input_ids"]) - 1]
