"""End to end on a tiny real model: sweep over checkpoints, report.json, report.md and plots."""

import json

import pytest

from cotdiag.diagnostics.outputs import write_plots, write_report
from cotdiag.diagnostics.report import build_report
from cotdiag.diagnostics.sweep import DiagnoseConfig, list_checkpoints, sweep
from cotdiag.response.prompt import render_prompt

TASKS = ["put a mug on the desk.", "put a pen in the drawer.", "heat an egg and put it in the fridge."]


def save_states(path):
    """Save :func:`_states` as a ``datasets`` dataset at ``path`` (what ``--data`` reads); return ``path``."""
    from datasets import Dataset

    states = _states()
    Dataset.from_dict({k: [s[k] for s in states] for k in states[0]}).save_to_disk(str(path))
    return path


def _states():
    states = []
    for t, task in enumerate(TASKS):
        obs = f"You are in a room. You see a desk {t}, a drawer {t} and a mug {t}."
        for step, action in enumerate([f"go to desk {t}", f"take mug {t} from desk {t}"]):
            states.append({
                "prompt": render_prompt(task, obs, mode="cot"),
                "prompt_for_prompt_mode": render_prompt(task, obs, mode="prompt"),
                "trace": f"The goal needs the mug; it should be near desk {t}, so I go there.",
                "action": action, "task_id": f"task{t}", "task_type": "pick", "step": step,
                "admissible_actions": [f"go to desk {t}", f"go to drawer {t}", "look"],
                "actions_before": [],
            })
    return states


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    from cotdiag.baselines.tiny import TinyModelConfig, build_tiny_model, train_tokenizer

    root = tmp_path_factory.mktemp("run")
    texts = [s["prompt"] + s["trace"] + s["action"] for s in _states()]
    tok = train_tokenizer(texts, vocab_size=400)
    for n, seed in ((10, 1), (2, 0)):
        model = build_tiny_model(tok, TinyModelConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                                       num_attention_heads=2, num_key_value_heads=1, seed=seed,
                                                       max_position_embeddings=1024))
        model.save_pretrained(root / f"checkpoint-{n}")
        tok.save_pretrained(root / f"checkpoint-{n}")
    return root


def test_list_checkpoints_sorted(run_dir):
    assert [n for n, _ in list_checkpoints(run_dir)] == [2, 10]


def test_sweep_report_and_plots(run_dir, tmp_path):
    from cotdiag.agents.hf import HFPolicy

    cfg = DiagnoseConfig(offline_states=6, conflict_states=4, attribution_examples=3, fractions=(0.0, 0.5, 1.0))
    cks = [(p.name, n, p) for n, p in list_checkpoints(run_dir)]
    results = sweep(cks, lambda p: HFPolicy(str(p), max_new_tokens=12, device="cpu"), _states(), cfg,
                    env_id="CoTDiag-ALFWorld-v0")
    report = build_report({"model": "tiny", "env_id": "CoTDiag-ALFWorld-v0", "split": "test", "seed": 0,
                           "data": {"n_states": 6, "source": "scripted"}}, results)
    report["plots"] = write_plots(report, tmp_path)
    write_report(report, results, tmp_path)
    rep = json.loads((tmp_path / "report.json").read_text())
    assert [c["step"] for c in rep["checkpoints"]] == [2, 10]
    c = rep["checkpoints"][0]
    assert c["offline"]["offline/prompt_quality"]["n"] == 6
    assert "offline/logp_expert_prompt_nats" in c["offline"]
    assert set(c["conflicting"]) == {"swap", "templated"}
    for per in c["conflicting"].values():
        for r in per.values():
            assert r["revision_rate"]["value"] + r["anchored_rate"]["value"] + r["other_rate"]["value"] == pytest.approx(1)
    a = c["attribution"]
    assert a["attribution/examples"] == 3
    assert sum(a[f"attention/{s}_share"]["value"] for s in ("prompt", "cot", "action")) == pytest.approx(1, abs=1e-5)
    assert len(a["per_layer/attention/prompt"]) == 2
    assert rep["versions"]["torch"]
    assert sorted(report["plots"]) == sorted(["quality_over_checkpoints.png", "advantage_consistency.png",
                                              "revision_vs_truncation.png", "prompt_share_per_layer.png"])
    md = (tmp_path / "report.md").read_text()
    assert "| checkpoint-2 |" in md and "Conflicting traces" in md
    assert (tmp_path / "records" / "checkpoint-10.json").is_file()
