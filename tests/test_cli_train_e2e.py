"""`build-data`, `train sft` and `train grpo` run end to end as the README and docs show them.

Nothing is mocked: each command runs in a subprocess (`cotdiag ...` on PATH of this venv) on real
ALFWorld expert episodes, with `--max_steps 1` added so a step of each trainer runs. The first
case crashed before (`report_to` parsed into `[None]`, a ValueError from transformers).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

COTDIAG = str(Path(sys.executable).with_name("cotdiag"))


def run(*argv: str, cwd: Path) -> subprocess.CompletedProcess:
    proc = subprocess.run([COTDIAG, *argv], cwd=cwd, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    d = tmp_path_factory.mktemp("readme")
    run("build-data", "--env", "CoTDiag-ALFWorld-v0", "--split", "train_id", "--episodes", "2", "--out", "runs/data",
        cwd=d)
    return d


def test_build_data_writes_conversations_with_their_protocol(work):
    from datasets import load_from_disk

    ds = load_from_disk(str(work / "runs/data"))
    assert len(ds) == 2 and ds[0]["messages"][0]["role"] == "system"
    assert json.loads((work / "runs/data/cotdiag_protocol.json").read_text())["history"] == "conversation"


def test_readme_train_sft_with_smollm2(work):
    # README: cotdiag train sft --data runs/data --model smollm2-135m --output_dir runs/sft_k0.3
    #         --learning_rate 1e-4 --action_mask_ratio 0.3   (plus one step, a LoRA adapter to stay fast)
    run("train", "sft", "--data", "runs/data", "--model", "smollm2-135m", "--output_dir", "runs/sft_k0.3",
        "--learning_rate", "1e-4", "--action_mask_ratio", "0.3", "--max_steps", "1", "--lora_r", "8", cwd=work)
    out = work / "runs/sft_k0.3"
    assert (out / "adapter_config.json").is_file()
    assert json.loads((out / "cotdiag_protocol.json").read_text())["history"] == "conversation"
    assert json.loads((out / "adapter_config.json").read_text())["base_model_name_or_path"] == "smollm2-135m"
    log = json.loads((out / "train_log.json").read_text())
    assert log["steps"] == 1 and log["decisions"] > 0


def test_train_sft_continues_an_adapter_with_recovery_turns(work):
    # docs/baselines.md: train on the shipped agent's adapter (or any `--lora_r` output) with recovery turns
    from safetensors.torch import load_file

    first = work / "runs/sft_k0.3"
    if not (first / "adapter_config.json").is_file():
        test_readme_train_sft_with_smollm2(work)
    run("train", "sft", "--data", "runs/data", "--model", "runs/sft_k0.3", "--output_dir", "runs/sft_more",
        "--lora_r", "8", "--recovery_rate", "0.5", "--learning_rate", "1e-3", "--warmup_steps", "0", "--max_steps", "1",
        cwd=work)
    out = work / "runs/sft_more"
    assert json.loads((out / "adapter_config.json").read_text())["base_model_name_or_path"] == "smollm2-135m"
    before, after = load_file(first / "adapter_model.safetensors"), load_file(out / "adapter_model.safetensors")
    assert before.keys() == after.keys()
    assert any(not (before[k] == after[k]).all() for k in before), "the adapter was trained on"
    proc = subprocess.run([COTDIAG, "train", "sft", "--data", "runs/data", "--model", "runs/sft_k0.3", "--output_dir",
                           "runs/sft_bad", "--lora_r", "4", "--max_steps", "1"], cwd=work, capture_output=True, text=True)
    assert proc.returncode != 0 and "rank 8" in proc.stderr.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def tiny_sft(work):
    run("train", "sft", "--data", "runs/data", "--output_dir", "runs/sft_tiny", "--max_steps", "1",
        "--save_steps", "1", cwd=work)
    return work / "runs/sft_tiny"


def test_train_sft_tiny_copies_the_protocol_into_every_checkpoint(tiny_sft):
    assert (tiny_sft / "cotdiag_protocol.json").is_file()
    assert (tiny_sft / "checkpoint-1" / "cotdiag_protocol.json").is_file()


def test_train_grpo_step_rollouts(work, tmp_path):
    data = work / "runs/data_window"
    if not data.exists():
        run("build-data", "--env", "CoTDiag-ALFWorld-v0", "--split", "train_id", "--episodes", "1", "--history",
            "window", "--out", str(data), cwd=work)
    run("train", "grpo", "--rollout", "step", "--data", str(data), "--output_dir", str(tmp_path / "g"),
        "--max_steps", "1", "--num_generations", "2", "--per_device_train_batch_size", "2",
        "--max_completion_length", "16", cwd=work)
    assert (tmp_path / "g" / "config.json").is_file()


def test_train_grpo_episode_rollouts(work, tiny_sft, tmp_path):
    run("train", "grpo", "--rollout", "episode", "--model", str(tiny_sft), "--split", "train_id", "--episodes", "2",
        "--output_dir", str(tmp_path / "ge"), "--max_steps", "1", "--num_generations", "2",
        "--per_device_train_batch_size", "2", "--max_turns", "2", "--max_turn_tokens", "8", cwd=work)
    assert (tmp_path / "ge" / "episodes.jsonl").is_file()


def test_train_grpo_episode_refuses_the_tiny_default(work, tmp_path):
    proc = subprocess.run([COTDIAG, "train", "grpo", "--rollout", "episode", "--output_dir", str(tmp_path / "x")],
                          cwd=work, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and "needs --model" in proc.stderr


def test_train_grpo_episode_refuses_mask_truncated_completions(work, tiny_sft, tmp_path):
    proc = subprocess.run([COTDIAG, "train", "grpo", "--rollout", "episode", "--model", str(tiny_sft),
                           "--mask_truncated_completions", "true", "--output_dir", str(tmp_path / "x")],
                          cwd=work, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1 and "mask_truncated_completions" in proc.stderr


def test_evaluate_reads_the_checkpoint_protocol_and_refuses_a_contradiction(work, tiny_sft, tmp_path):
    # README: cotdiag evaluate --policy hf:runs/sft_k0.3 --mode cot --split valid_seen --episodes 20 --out runs/eval_cot
    run("evaluate", "--policy", f"hf:{tiny_sft}", "--mode", "cot", "--split", "valid_seen", "--episodes", "1",
        "--max-steps", "2", "--out", str(tmp_path / "eval_cot"), cwd=work)
    cfg = json.loads((tmp_path / "eval_cot" / "config.json").read_text())
    assert cfg["make_env"]["protocol"]["history"] == "conversation"
    proc = subprocess.run([COTDIAG, "evaluate", "--policy", f"hf:{tiny_sft}", "--mode", "cot", "--history", "window",
                           "--episodes", "1", "--out", str(tmp_path / "x")], cwd=work, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 1 and "contradicts the checkpoint's protocol" in proc.stderr


def test_a_conversation_checkpoint_sees_its_training_text_at_inference(work, tiny_sft):
    """The model input of every decision of an expert episode under evaluate's env factory is the SFT text's prefix."""
    from datasets import load_from_disk

    from cotdiag.agents import HFPolicy
    from cotdiag.baselines.conversation import conversation_spans
    from cotdiag.response.protocol import load_protocol
    from cotdiag.rollout.factory import DecodedEnvFactory

    ex = load_from_disk(str(work / "runs/data"))[0]
    policy = HFPolicy(str(tiny_sft), max_new_tokens=8)
    for mode, key in (("cot", "messages"), ("prompt", "messages_prompt_mode")):
        text, spans = conversation_spans(policy.tokenizer, ex[key])
        env = DecodedEnvFactory("CoTDiag-ALFWorld-v0", mode, protocol=load_protocol(tiny_sft))(split="train_id")
        obs, info = env.reset(seed=ex["seed"], options={"task_id": ex["task_id"]})
        assistants = [m["content"] for m in ex[key] if m["role"] == "assistant"]
        for (start, _end, _a0, _a1), said in zip(spans, assistants, strict=True):
            assert policy.model_text(obs, info) == text[:start] + info["prefill"]  # the prefill opens the turn
            assert said.startswith(info["prefill"])
            obs, _r, _t, _tr, info = env.step(said[len(info["prefill"]):])
        env.close()


def test_diagnose_a_conversation_checkpoint(work, tiny_sft, tmp_path):
    # README: cotdiag diagnose --policy hf:runs/sft_k0.3 --checkpoints runs/sft_k0.3 --env CoTDiag-ALFWorld-v0
    #         --split valid_unseen --out runs/diag   (sized down)
    proc = run("diagnose", "--policy", f"hf:{tiny_sft}", "--env", "CoTDiag-ALFWorld-v0", "--split", "valid_unseen",
               "--data-episodes", "1", "--states", "3", "--conflict-states", "2", "--attribution-examples", "1",
               "--online-episodes", "0", "--tests", "early,hint", "--out", str(tmp_path / "diag"), cwd=work)
    report = json.loads((tmp_path / "diag" / "report.json").read_text())
    assert report["data"]["n_states"] > 0
    assert report["checkpoints"][-1]["offline"]["offline/cot_quality"]["n"] == 3
    # piped (#19 item 15): the status line and each stage's lines are printed, none wrapped at 80 columns
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("building held-out expert states: 1 expert episodes of CoTDiag-ALFWorld-v0")
    for stage in ("offline", "faithfulness", "conflicting", "attribution"):
        assert any(ln.startswith(f"  · {stage}: ") and ln.endswith("· done") for ln in lines), stage
    assert any(ln.startswith("report: ") and ln.rstrip().endswith(".png") for ln in lines)


def test_one_model_input_from_training_to_the_leaderboard(work, tiny_sft, tmp_path, monkeypatch):
    """#20, done when: a checkpoint trained from `build-data` defaults is evaluated, diagnosed and ranked
    with no protocol option, and the first decision state's model input is byte-identical in all three
    and equal to the training text's prefix, in both modes."""
    from collections import defaultdict

    from typer.testing import CliRunner

    from cotdiag.agents.hf import HFPolicy
    from cotdiag.baselines.conversation import conversation_spans
    from cotdiag.baselines.data import build_dataset
    from cotdiag.cli import app
    from cotdiag.response.protocol import load_protocol

    env, split = "CoTDiag-ALFWorld-v0", "valid_unseen"
    seen: dict[str, list[str]] = defaultdict(list)
    where = ["?"]
    generate = HFPolicy.generate

    def recording(self, texts):
        seen[where[0]].extend(texts)
        return generate(self, texts)

    monkeypatch.setattr(HFPolicy, "generate", recording)
    invoke = CliRunner().invoke
    for mode in ("prompt", "cot"):
        where[0] = f"evaluate/{mode}"
        res = invoke(app, ["evaluate", "--env", env, "--split", split, "--policy", f"hf:{tiny_sft}", "--mode", mode,
                           "--episodes", "1", "--max-steps", "1", "--policy-kwarg", "max_new_tokens=8",
                           "--out", str(tmp_path / mode)])
        assert res.exit_code == 0, res.output
    where[0] = "diagnose"
    res = invoke(app, ["diagnose", "--policy", f"hf:{tiny_sft}", "--env", env, "--split", split, "--data-episodes", "1",
                       "--states", "200", "--conflict-states", "0", "--attribution-examples", "0", "--max-new-tokens", "8",
                       "--out", str(tmp_path / "diag")])
    assert res.exit_code == 0, res.output
    where[0] = "leaderboard"
    (tmp_path / "suite.json").write_text(json.dumps({"name": "one", "version": 1, "entries": [
        {"env_id": env, "split": split, "domain": "ood", "episodes": 1, "max_steps": 1, "seed": 0}]}))
    (tmp_path / "policies.json").write_text(json.dumps(
        {"policies": [{"name": "sft", "spec": f"hf:{tiny_sft}", "kwargs": {"max_new_tokens": 8}}]}))
    res = invoke(app, ["leaderboard", "run", "--suite", str(tmp_path / "suite.json"), "--policies",
                       str(tmp_path / "policies.json"), "--out", str(tmp_path / "board")])
    assert res.exit_code == 0, res.output

    row = build_dataset(env, split, episodes=1, seed=0, protocol=load_protocol(tiny_sft))[0]  # the same plan
    tok = HFPolicy(str(tiny_sft)).tokenizer
    board = dict(zip(("prompt", "cot"), seen["leaderboard"], strict=True))  # the suite plays prompt, then cot
    for mode, key, prefill in (("prompt", "messages_prompt_mode", "<action>"), ("cot", "messages", "")):
        text, spans = conversation_spans(tok, row[key])
        trained = text[: spans[0][0]] + prefill  # what SFT trained the first decision on
        first = seen[f"evaluate/{mode}"][0]
        assert first == trained, mode
        assert board[mode] == first, mode
        assert first in seen["diagnose"], mode  # the offline stage decodes every state, this one included
