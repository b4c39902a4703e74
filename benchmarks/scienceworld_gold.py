"""Gold path sweep: does ScienceWorld's gold action sequence win on variation 0 of all 30 task types?

For every task type, ``reset(options={"task_id": "<task>/0"})`` on ``gym.make("CoTDiag-ScienceWorld-v0",
split="train")`` and play ``info["expert_action"]`` until the episode ends. Each task is played
twice: pass 1 generates the gold path (``generateGoldPath=True``), pass 2 replays the env's cached
gold path on a fresh load (ScienceWorld's generator is not seeded, so this checks that the cached
path stays valid). Exceptions are recorded per task, never hidden. Also checks the static variation
table of :mod:`cotdiag.envs.scienceworld.splits` against the simulator for every task type.

Writes ``benchmarks/results/scienceworld_gold.json``: ``wins`` / ``wins_cached`` out of ``n_tasks``,
``max_gold_length``, per-task ``gold_length``, ``steps``, ``won``, ``score``, ``time_s``, ``error``.
"""

from __future__ import annotations

import json
import time
import traceback
from pathlib import Path

import gymnasium as gym

import cotdiag.envs  # noqa: F401
from cotdiag.envs.scienceworld.splits import TASK_TYPES, VARIATIONS, variations

RESULTS = Path(__file__).parent / "results" / "scienceworld_gold.json"


def play(env: gym.Env, task_id: str) -> dict:
    t0 = time.perf_counter()
    rec: dict = {"error": None, "won": False, "score": 0.0, "steps": 0}
    try:
        _, info = env.reset(options={"task_id": task_id})
        gold = list(env.unwrapped._gold)
        rec["gold_length"] = len(gold)
        rec["numeric_gold_actions"] = sum(a.strip().isdigit() for a in gold)
        done = False
        while not done:
            if info["expert_action"] is None:
                rec["error"] = f"no expert action at step {info['step']}"
                break
            _, _, term, trunc, info = env.step(info["expert_action"])
            done = term or trunc
        rec.update(won=bool(info["won"]), score=float(info["score"]), steps=int(info["step"]))
    except Exception:
        rec["error"] = traceback.format_exc(limit=3)
    rec["time_s"] = round(time.perf_counter() - t0, 3)
    return rec


def main() -> None:
    env = gym.make("CoTDiag-ScienceWorld-v0", split="train")
    per_task: dict[str, dict] = {}
    table_mismatch: list[str] = []
    for name in TASK_TYPES:
        tid = f"{name}/0"
        first = play(env, tid)
        second = play(env, tid)
        raw = env.unwrapped._jvm.raw
        if raw is not None:
            if raw.get_max_variations(name) != VARIATIONS[name][0] or any(
                sorted(get()) != list(variations(name, part))
                for part, get in (("train", raw.get_variations_train), ("dev", raw.get_variations_dev),
                                  ("test", raw.get_variations_test))
            ):
                table_mismatch.append(name)
        per_task[name] = {**first, "cached_replay": second}
        print(f"{name:50s} gold={first.get('gold_length')} won={first['won']} cached_won={second['won']} "
              f"t={first['time_s']}s err={bool(first['error'] or second['error'])}", flush=True)
    env.close()
    out = {
        "env_id": "CoTDiag-ScienceWorld-v0",
        "simplification": "easy",
        "variation": 0,
        "n_tasks": len(TASK_TYPES),
        "wins": sum(r["won"] for r in per_task.values()),
        "wins_cached": sum(r["cached_replay"]["won"] for r in per_task.values()),
        "errors": sum(r["error"] is not None or r["cached_replay"]["error"] is not None for r in per_task.values()),
        "max_gold_length": max(r.get("gold_length", 0) for r in per_task.values()),
        "split_table_mismatches": table_mismatch,
        "tasks": per_task,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps({k: v for k, v in out.items() if k != "tasks"}))


if __name__ == "__main__":
    main()
