"""Throughput of ``CoTDiag-BFCL-v0`` on the ground-truth replay of every multi-turn entry.

For each of the 800 multi-turn entries (base, miss_func, miss_param, long_context) the expert
(one ground-truth call per step, ``[]`` at each turn end) is played on the unwrapped env. Reported:

* ``steps_per_s``: env steps per second excluding checker time (the goal is >= 2,000);
* ``steps_per_s_with_checker`` and ``steps_per_s_with_reset``: the same including checker time and
  including ``reset`` time;
* ``checker_time_per_episode_s``: mean / median / p95 / max seconds spent in the multi-turn judge
  (ground-truth execution plus BFCL's state and response checkers) per episode;
* ``single_turn_checker_time_per_answer_s``: mean seconds of one AST-checker verdict (expert answers
  of every single-turn AST entry), after the checker's one-off import.

Run: ``python benchmarks/bfcl_env.py`` -> ``benchmarks/results/bfcl_env.json``.
"""

from __future__ import annotations

import json
import platform
import statistics
import sys
import time
from pathlib import Path

from cotdiag.envs.bfcl import BFCLEnv
from cotdiag.envs.bfcl.data import AST_CATEGORIES, MULTI_TURN_CATEGORIES, list_task_ids


def replay_multi_turn() -> dict:
    steps = 0
    reset_s = step_s = 0.0
    checker: list[float] = []
    wins = episodes = 0
    by_category = {}
    for category in MULTI_TURN_CATEGORIES:
        env = BFCLEnv(category)
        ids = list_task_ids(category)
        env.reset(options={"task_id": ids[0]})  # warm imports and data caches
        c_steps, c_step_s, c_checker = 0, 0.0, 0.0
        for task_id in ids:
            t0 = time.perf_counter()
            _, info = env.reset(options={"task_id": task_id})
            t1 = time.perf_counter()
            reset_s += t1 - t0
            term = False
            while not term:
                _, _, term, _, info = env.step(info["expert_action"])
                c_steps += 1
            c_step_s += time.perf_counter() - t1
            checker.append(env.checker_time_s)
            c_checker += env.checker_time_s
            wins += int(info["won"])
            episodes += 1
        steps += c_steps
        step_s += c_step_s
        by_category[category] = {
            "episodes": len(ids),
            "steps": c_steps,
            "steps_per_s": round(c_steps / (c_step_s - c_checker), 1),
            "checker_time_per_episode_s": round(c_checker / len(ids), 6),
        }
    checker_total = sum(checker)
    ordered = sorted(checker)
    return {
        "episodes": episodes,
        "wins": wins,
        "steps": steps,
        "steps_per_s": round(steps / (step_s - checker_total), 1),
        "steps_per_s_with_checker": round(steps / step_s, 1),
        "steps_per_s_with_reset": round(steps / (step_s + reset_s - checker_total), 1),
        "reset_time_per_episode_s": round(reset_s / episodes, 6),
        "checker_time_per_episode_s": {
            "mean": round(statistics.mean(checker), 6),
            "median": round(statistics.median(checker), 6),
            "p95": round(ordered[int(0.95 * (len(ordered) - 1))], 6),
            "max": round(ordered[-1], 6),
        },
        "by_category": by_category,
    }


def single_turn_checker_time() -> dict:
    answers = 0
    total = 0.0
    for category in AST_CATEGORIES:
        env = BFCLEnv(category)
        for task_id in list_task_ids(category):
            _, info = env.reset(options={"task_id": task_id})
            t0 = time.perf_counter()
            env.step(info["expert_action"])
            total += time.perf_counter() - t0
            answers += 1
    return {"answers": answers, "mean_s": round(total / answers, 6)}


def main(out: Path = Path(__file__).parent / "results" / "bfcl_env.json") -> int:
    t0 = time.perf_counter()
    import bfcl_eval.eval_checker.ast_eval.ast_checker  # noqa: F401  one-off import (qwen_agent etc.)

    import_s = time.perf_counter() - t0
    multi = replay_multi_turn()
    single = single_turn_checker_time()
    result = {
        "steps_per_s": multi["steps_per_s"],
        "goal_steps_per_s": 2000,
        "multi_turn_replay": multi,
        "single_turn_checker_time_per_answer_s": single["mean_s"],
        "single_turn_answers": single["answers"],
        "ast_checker_import_s": round(import_s, 2),
        "machine": {"python": platform.python_version(), "processor": platform.processor() or platform.machine()},
        "note": "unwrapped BFCLEnv; times are wall-clock seconds on a shared 2-core machine",
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=1))
    return 0 if multi["wins"] == multi["episodes"] else 1


if __name__ == "__main__":
    sys.exit(main())
