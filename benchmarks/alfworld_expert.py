"""How often does the (fixed) handcoded expert win? Every game of valid_seen, valid_unseen, train.

Runs ``cotdiag.rollout.evaluate`` with the expert policy and a 200-step budget on every game of
each split (resumable: records go to ``runs/bench/alfworld_expert/<split>/episodes.jsonl``) and
writes ``benchmarks/results/alfworld_expert.json``: wins, games, failures, step distribution.

Usage: ``python benchmarks/alfworld_expert.py [--splits valid_seen valid_unseen train]``
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import gymnasium as gym
import numpy as np

import cotdiag  # noqa: F401
from cotdiag.agents import ExpertPolicy
from cotdiag.envs.alfworld.data import list_games
from cotdiag.rollout import evaluate

RESULTS = Path(__file__).parent / "results" / "alfworld_expert.json"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--splits", nargs="+", default=["valid_seen", "valid_unseen", "train"])
    ap.add_argument("--max-steps", type=int, default=200)
    ap.add_argument("--runs", default="runs/bench/alfworld_expert")
    ap.add_argument("--limit", type=int, default=None,
                    help="Play only the first N games of each split's seeded permutation (a random sample).")
    args = ap.parse_args()
    for split in args.splits:
        n_all = len(list_games(split))
        n = min(n_all, args.limit or n_all)
        run_dir = Path(args.runs) / split
        summary = evaluate(
            "CoTDiag-ALFWorld-v0", ExpertPolicy(), run_dir, split=split, episodes=n, seed=0,
            max_episode_steps=args.max_steps,
            make_env=lambda **kw: gym.make("CoTDiag-ALFWorld-v0", max_episode_steps=args.max_steps, **kw),
        )
        recs = [json.loads(line) for line in (run_dir / "episodes.jsonl").read_text().splitlines()]
        steps = np.array([r["steps"] for r in recs if r["success"]])
        out = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}  # other processes may write too
        out[split] = {
            "games_in_split": n_all,
            "games": n,
            "wins": int(sum(r["success"] for r in recs)),
            "failures": sorted(r["task_id"] for r in recs if not r["success"]),
            "step_budget": args.max_steps,
            "steps_mean": float(steps.mean()) if steps.size else None,
            "steps_median": float(np.median(steps)) if steps.size else None,
            "steps_p95": float(np.percentile(steps, 95)) if steps.size else None,
            "steps_max": int(steps.max()) if steps.size else None,
            "steps_le_50": int((steps <= 50).sum()),
            "by_task_type": {k: {"episodes": v["episodes"], "success_rate": v["success_rate"],
                                 "mean_steps": v["mean_steps"]} for k, v in summary["by_task_type"].items()},
        }
        RESULTS.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
