"""Online ALFWorld success of an SFT'd SmolLM2 in both decoding modes, beside random and the expert.

For each split (default ``valid_seen`` and ``valid_unseen``) the same episode plan (task ids and
reset seeds) is played by the random policy, the expert, and the model in prompt and CoT mode
through the decoding wrapper with the history settings of the model's training data. Records go to
``--runs`` (resumable: ``cotdiag.rollout.evaluate``); the summary with Wilson 95% CIs, mean steps
and the format-error rate (format errors per step) is written to ``--out``.

Example (after ``benchmarks/study_smollm2/run.sh --cpu-small``):
    python benchmarks/smollm2_alfworld.py --model /tmp/study_smollm2/alfworld/sft_k0 \
        --data /tmp/study_smollm2/alfworld/data_train --episodes 6 --max-steps 20 --device cpu
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

ENV_ID = "CoTDiag-ALFWorld-v0"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="SFT output folder, checkpoint, hub id or smollm2-135m")
    ap.add_argument("--data", type=Path, required=True, help="the model's training data (history settings)")
    ap.add_argument("--splits", default="valid_seen,valid_unseen")
    ap.add_argument("--episodes", type=int, default=20)
    ap.add_argument("--max-steps", type=int, default=30)
    ap.add_argument("--max-new-tokens", type=int, default=96)
    ap.add_argument("--device", default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--runs", type=Path, default=Path("runs/bench/smollm2_alfworld"))
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/smollm2_alfworld.json"))
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    import cotdiag  # noqa: F401
    from cotdiag.agents import ExpertPolicy, HFPolicy, RandomPolicy
    from cotdiag.baselines.data import DataConfig, load_data_meta
    from cotdiag.rollout import evaluate
    from cotdiag.rollout.factory import DecodedEnvFactory

    dcfg = DataConfig.from_meta(load_data_meta(args.data).get("config"))
    model = HFPolicy(args.model, max_new_tokens=args.max_new_tokens, seed=args.seed, device=args.device)
    policies = [("random", "-", RandomPolicy(seed=args.seed)), ("expert", "-", ExpertPolicy())]
    policies += [("sft", mode, model) for mode in ("prompt", "cot")]
    rows = []
    t0 = time.perf_counter()
    for split in [s for s in args.splits.split(",") if s]:
        for name, mode, policy in policies:
            run = args.runs / f"{name}__{mode}__{split}"
            factory = DecodedEnvFactory(ENV_ID, None if mode == "-" else mode, dcfg.history_window, args.max_steps,
                                        dcfg.history_keep_first)
            t = time.perf_counter()
            s = evaluate(ENV_ID, policy, run, split=split, episodes=args.episodes, seed=args.seed,
                         max_episode_steps=args.max_steps, make_env=factory)
            rows.append({"policy": name, "mode": mode, "split": split, "episodes": s["episodes"],
                         "success_rate": s["success_rate"], "success_rate_ci95": s["success_rate_ci95"],
                         "mean_score": s["mean_score"], "mean_steps": s["mean_steps"], "errors": s["errors"],
                         "format_error_rate": s["format_error_rate"] if mode != "-" else None,
                         "wall_s": time.perf_counter() - t})
            logging.info("%s", rows[-1])
    from cotdiag.diagnostics.report import display_path

    result = {
        "model": display_path(str(args.model)), "env_id": ENV_ID, "episodes_per_cell": args.episodes,
        "max_episode_steps": args.max_steps, "max_new_tokens": args.max_new_tokens, "seed": args.seed,
        "history": dcfg.history.to_dict(), "device": str(model.device), "dtype": str(model.dtype),
        "wall_s": time.perf_counter() - t0, "rows": rows,
        "note": "same episode plan (task ids, reset seeds) for every policy of a split; CIs are Wilson 95%",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    logging.info("wrote %s", args.out)


if __name__ == "__main__":
    main()
