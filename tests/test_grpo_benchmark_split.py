"""The episode-GRPO benchmark evaluates on held-out tasks only (issue: it once scored training pairs)."""

import importlib.util
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "grpo_episode.py"


def test_grpo_benchmark_evaluates_only_on_tasks_it_does_not_train_on():
    spec = importlib.util.spec_from_file_location("grpo_episode_bench", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert set(bench.TRAIN_TASKS).isdisjoint(bench.HELD_OUT_TASKS)
    env = bench.held_out_env()
    try:
        played = {env.reset(seed=s)[1].get("task_id") for s in range(40)}
    finally:
        env.close()
    assert played and played <= set(bench.HELD_OUT_TASKS), played
