"""Steps per second of async vectorized ALFWorld rollouts with the expert policy, N = 1, 2, 4.

Plays the same planned episodes (``cotdiag.rollout.episode_plan`` over ``valid_unseen``) with
``cotdiag.rollout.vector_episodes`` on an ``AsyncVectorEnv`` of N processes, and times the
whole run (process start, resets and steps). ``steps/s`` = env steps / wall seconds;
``speedup_nK`` = steps/s at N=K over steps/s at N=1. Writes ``benchmarks/results/vector.json``.

Usage: ``python benchmarks/vector_rollout.py [--episodes 12] [--max-steps 50]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import cotdiag  # noqa: F401
from cotdiag.agents import ExpertPolicy
from cotdiag.envs.alfworld.data import list_games
from cotdiag.rollout import episode_plan, vector_episodes

RESULTS = Path(__file__).parent / "results" / "vector.json"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--episodes", type=int, default=12)
    ap.add_argument("--max-steps", type=int, default=50)
    ap.add_argument("--split", default="valid_unseen")
    ap.add_argument("--num-envs", type=int, nargs="+", default=[1, 2, 4])
    args = ap.parse_args()
    plan = episode_plan(list_games(args.split), args.episodes, seed=0)
    runs = {}
    for n in args.num_envs:
        t0 = time.perf_counter()
        recs = [r for _, r in vector_episodes(plan, ExpertPolicy(), env_id="CoTDiag-ALFWorld-v0", num_envs=n,
                                               env_kwargs={"split": args.split},
                                               max_episode_steps=args.max_steps)]
        wall = time.perf_counter() - t0
        steps = sum(r["steps"] for r in recs)
        runs[f"n{n}"] = {"num_envs": n, "episodes": len(recs), "env_steps": steps, "wall_s": round(wall, 2),
                         "steps_per_s": round(steps / wall, 2), "wins": sum(r["success"] for r in recs)}
        print(runs[f"n{n}"], flush=True)
    base = runs["n1"]["steps_per_s"]
    out = {
        "benchmark": "async AsyncVectorEnv ALFWorld rollouts, expert policy",
        "split": args.split, "episodes_per_run": args.episodes, "max_episode_steps": args.max_steps,
        "cpus_visible": os.cpu_count(), "machine": platform.machine(),
        "note": "one run on 2 CPU cores shared with other engineers' jobs; timings are noisy",
        "runs": runs,
        **{f"speedup_n{n}": round(runs[f"n{n}"]["steps_per_s"] / base, 3) for n in args.num_envs if n != 1},
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
