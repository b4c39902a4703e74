"""Local vs Ray backend throughput of ``cotdiag.rollout.evaluate`` on this machine's CPUs.

Two workloads, each played by both backends on the same episode plan (same seeds):

* ``textworld_example``: the example env of ``examples/textworld_env`` (random policy, 30-step
  episodes): cheap resets, many steps;
* ``alfworld``: ``CoTDiag-ALFWorld-v0`` valid_seen with the expert (20-step limit): expensive
  resets (1-3 s each).

Ray runs ``num_workers`` actors (default: the CPU count, 2 here). Ray start-up is timed
separately (``ray_init_s``). Each backend first plays a warm-up run on other seeds (``*_cold``:
imports, first game loads, and for Ray the actor processes), then the measured run on the same
seeds for both (``local``, ``ray``; Ray reuses its actors: the steady state of a leaderboard or
of repeated evaluations). ``speedup`` = local wall / Ray wall on the measured runs;
``speedup_cold`` = the same on the warm-up runs. ``identical_records`` compares the records of
``local`` and ``ray`` (minus timings). Writes ``benchmarks/results/ray.json``.

Run: ``python benchmarks/ray_throughput.py [--episodes-tw 8] [--episodes-alfworld 4]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import cotdiag  # noqa: F401
from cotdiag.agents.registry import make_policy
from cotdiag.plugins import import_user_module
from cotdiag.rollout import evaluate
from cotdiag.rollout.ray import init_ray

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results" / "ray.json"
VOLATILE = ("wall_time_s", "policy_time_s")


def _records(run_dir: Path) -> list[dict]:
    recs = [json.loads(x) for x in (run_dir / "episodes.jsonl").read_text().splitlines()]
    return sorted(({k: v for k, v in r.items() if k not in VOLATILE} for r in recs), key=lambda r: r["episode"])


def _run(env_id: str, policy: str, backend: str, out: Path, workers: int, **kw) -> dict:
    t0 = time.perf_counter()
    summary = evaluate(env_id, make_policy(policy, seed=0), out, backend=backend, num_workers=workers, **kw)
    wall = time.perf_counter() - t0
    steps = sum(r["steps"] for r in _records(out))
    return {"episodes": summary["episodes"], "env_steps": steps, "wall_s": round(wall, 2),
            "episodes_per_s": round(summary["episodes"] / wall, 3), "steps_per_s": round(steps / wall, 2),
            "success_rate": summary["success_rate"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--episodes-tw", type=int, default=8)
    ap.add_argument("--episodes-alfworld", type=int, default=4)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    args = ap.parse_args()
    import_user_module(str(ROOT / "examples" / "textworld_env" / "tw_env.py"))
    t0 = time.perf_counter()
    import ray

    init_ray(num_cpus=args.workers)
    ray_init_s = time.perf_counter() - t0
    workloads = {
        "textworld_example": ("TextWorldExample-v0", "random",
                              dict(split="train", episodes=args.episodes_tw, seed=0, max_episode_steps=30)),
        "alfworld": ("CoTDiag-ALFWorld-v0", "expert",
                     dict(split="valid_seen", episodes=args.episodes_alfworld, seed=0, max_episode_steps=20)),
    }
    result: dict = {"benchmark": "cotdiag evaluate --backend local vs ray", "cpus_visible": os.cpu_count(),
                    "ray_workers": args.workers, "ray_version": ray.__version__, "machine": platform.machine(),
                    "ray_init_s": round(ray_init_s, 2), "workloads": {},
                    "load_average_1min_start": round(os.getloadavg()[0], 2),
                    "note": "2 CPU cores shared with other engineers' jobs; timings are noisy"}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (env_id, policy, kw) in workloads.items():
            warm = {**kw, "seed": kw["seed"] + 1000}  # warm-up on other seeds: imports, first loads
            local_cold = _run(env_id, policy, "local", Path(tmp) / f"{name}_local_cold", args.workers, **warm)
            local = _run(env_id, policy, "local", Path(tmp) / f"{name}_local", args.workers, **kw)
            cold = _run(env_id, policy, "ray", Path(tmp) / f"{name}_ray_cold", args.workers, **warm)
            remote = _run(env_id, policy, "ray", Path(tmp) / f"{name}_ray", args.workers, **kw)
            same = _records(Path(tmp) / f"{name}_local") == _records(Path(tmp) / f"{name}_ray")
            result["workloads"][name] = {
                "env_id": env_id, "policy": policy, **{k: v for k, v in kw.items()},
                "local_cold": local_cold, "local": local, "ray_cold": cold, "ray": remote,
                "identical_records": same,
                "speedup": round(local["wall_s"] / remote["wall_s"], 3),
                "speedup_cold": round(local_cold["wall_s"] / cold["wall_s"], 3),
            }
            print(name, json.dumps(result["workloads"][name]))
    from cotdiag.rollout.ray import shutdown_pool

    shutdown_pool()
    ray.shutdown()
    result["load_average_1min_end"] = round(os.getloadavg()[0], 2)
    sp = [w["speedup"] for w in result["workloads"].values()]
    result["speedup_min"] = min(sp)
    result["speedup_goal"] = f">= {0.8 * args.workers:.1f}"
    result["identical_records"] = all(w["identical_records"] for w in result["workloads"].values())
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if result["identical_records"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
