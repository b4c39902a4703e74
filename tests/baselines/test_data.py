"""The expert dataset builder: columns, successful episodes only, JSONL traces, and prompts that equal
the decoding wrapper's prompts at inference byte for byte."""

from __future__ import annotations

import json

import pytest

from cotdiag.baselines.data import DataConfig, build_dataset, load_jsonl_traces
from cotdiag.error import InvalidConfigError
from cotdiag.wrappers import DecodingModeWrapper

from .conftest import SOLUTION, make_scripted, trace_fn

COLUMNS = {"prompt", "prompt_for_prompt_mode", "trace", "action", "env", "task_id", "task_type", "step", "seed",
           "actions_before", "admissible_actions"}


def test_columns_and_rows(scripted_dataset):
    assert COLUMNS <= set(scripted_dataset.column_names)
    assert len(scripted_dataset) == 3 * len(SOLUTION)
    row = scripted_dataset[1]
    assert row["action"] == SOLUTION[1] and row["step"] == 1 and row["actions_before"] == SOLUTION[:1]
    assert row["trace"] == trace_fn({"action": SOLUTION[1]})


@pytest.mark.parametrize("mode,column", [("cot", "prompt"), ("prompt", "prompt_for_prompt_mode")])
def test_prompts_equal_inference_prompts(mode, column):
    cfg = DataConfig(history_window=2)
    ds = build_dataset("scripted", episodes=1, traces=trace_fn, config=cfg, make_env=lambda **kw: make_scripted(**kw))
    env = DecodingModeWrapper(make_scripted(), mode=mode, history=cfg.history)
    prompt, info = env.reset(seed=ds[0]["seed"], options={"task_id": ds[0]["task_id"]})
    for row in ds:
        assert prompt == row[column]
        tail = f"{row['action']}</action>" if mode == "prompt" else f"<think>x</think><action>{row['action']}</action>"
        prompt, *_ = env.step(tail)


def test_failed_episodes_are_dropped():
    ds = build_dataset("scripted", episodes=2, traces=trace_fn,
                       make_env=lambda **kw: make_scripted(max_episode_steps=2, **kw))
    assert len(ds) == 0


def test_jsonl_traces(tmp_path):
    path = tmp_path / "t.jsonl"
    rows = []
    for t in ("task/0", "task/1", "task/2"):
        rows += [{"task_id": t, "step": 0, "trace": "Open it first.", "action": SOLUTION[0]},
                 {"task_id": t, "step": 1, "trace": "Wrong action here.", "action": "look"},
                 {"task_id": t, "step": 2, "trace": "Now unlock."}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    ds = build_dataset("scripted", episodes=1, traces=str(path), make_env=lambda **kw: make_scripted(**kw))
    assert list(ds["trace"]) == ["Open it first.", "Now unlock."] and list(ds["step"]) == [0, 2]
    (tmp_path / "bad.jsonl").write_text("{not json\n")
    with pytest.raises(InvalidConfigError):
        load_jsonl_traces(tmp_path / "bad.jsonl")
