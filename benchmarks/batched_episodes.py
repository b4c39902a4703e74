"""Decisions per second of the shipped agent in CoT mode on ALFWorld: N episodes batched vs one at a time.

Plays the same planned in-domain episodes (``eval_id_task_types``, the benchmark's plan) with the
shipped agent (``smollm2-135m-alfworld``, greedy, its decoding protocol) once sequentially
(``num_envs=1``: one episode, its key/value cache reused across turns) and once on a vector env of
``N`` sub-envs, where :func:`cotdiag.agents.hf_batch.act_slots` decodes the ``N`` episodes in one
batch, each on its own cache. Both runs happen side by side in this process with the same threads;
``speedup`` = batched decisions/s over sequential decisions/s. ``same_actions`` is the fraction of
steps whose completion is identical in both runs (greedy; batched float32 sums in another order, so
a near-tie can flip a token). Writes ``benchmarks/results/batched_episodes.json``.

Usage: ``python benchmarks/batched_episodes.py [--episodes 8] [--max-steps 6] [--dtype float32]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

RESULTS = Path(__file__).parent / "results" / "batched_episodes.json"
ENV_ID = "CoTDiag-ALFWorld-v0"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m-alfworld")
    ap.add_argument("--episodes", type=int, default=8)
    ap.add_argument("--max-steps", type=int, default=6)
    ap.add_argument("--max-new-tokens", type=int, default=128)
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--split", default="eval_id_task_types")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()

    import torch

    import cotdiag  # noqa: F401
    from cotdiag.agents import HFPolicy
    from cotdiag.rollout import evaluate
    from cotdiag.rollout.factory import DecodedEnvFactory

    policy = HFPolicy(args.model, max_new_tokens=args.max_new_tokens, dtype=args.dtype, seed=0)
    factory = DecodedEnvFactory(ENV_ID, "cot", max_episode_steps=args.max_steps, protocol=policy.protocol)
    runs, actions = {}, {}
    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"cotdiag_batched_{os.getpid()}"
    for name, n in (("sequential", 1), ("batched", args.episodes)):
        t0 = time.perf_counter()
        s = evaluate(ENV_ID, policy, tmp / name, split=args.split, episodes=args.episodes, seed=0,
                     max_episode_steps=args.max_steps, make_env=factory, num_envs=n)
        wall = time.perf_counter() - t0
        recs = sorted((json.loads(x) for x in (tmp / name / "episodes.jsonl").read_text().splitlines()),
                      key=lambda r: r["episode"])
        actions[name] = [a for r in recs for a in r["actions"]]
        steps = sum(r["steps"] for r in recs)
        runs[name] = {"num_envs": n, "episodes": s["episodes"], "decisions": steps, "wall_s": round(wall, 1),
                      "decisions_per_s": round(steps / wall, 3), "errors": s["errors"]}
        print(name, runs[name], flush=True)
    pairs = list(zip(actions["sequential"], actions["batched"], strict=False))
    out = {
        "benchmark": "shipped agent, CoT mode, ALFWorld: N episodes in one batched generation vs one at a time",
        "model": args.model, "split": args.split, "episodes": args.episodes, "max_episode_steps": args.max_steps,
        "max_new_tokens": args.max_new_tokens, "dtype": args.dtype, "torch_threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(), "cpus_visible": os.cpu_count(),
        "machine": platform.machine(), "runs": runs,
        "speedup": round(runs["batched"]["decisions_per_s"] / runs["sequential"]["decisions_per_s"], 3),
        "same_actions": round(sum(a == b for a, b in pairs) / max(1, len(pairs)), 4),
        "compared_steps": len(pairs),
        "note": "one run, both arms in one process on the same threads; the machine's other jobs add noise",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
