"""Online ALFWorld success of the SmolLM2 agent in both decoding modes, beside random and the expert.

For each split (default ``eval_id_task_types`` and ``eval_ood_task_types``: no held-out game is
in ``train_id``) the same episode plan (task ids and reset seeds) is played by the random policy,
the expert, and the agent in prompt and CoT mode through the decoding wrapper with the protocol
saved in the agent's folder (``cotdiag_protocol.json``), with free generation (the headline) and
with admissible-action scoring (``action_selection="score"``, reported beside it). Records go to
``--runs`` (resumable: ``cotdiag.rollout.evaluate``); the summary with Wilson 95% CIs, mean steps,
format-error and invalid-action rates, wall times and the agent's training log (loss curve,
games, epochs) is written to ``--out``.

Example (the shipped agent, 30 episodes per cell, 50-step cap):
    python benchmarks/smollm2_alfworld.py --model smollm2-135m-alfworld --episodes 30
On N cores, ``--backend ray --num-workers N`` (with ``OMP_NUM_THREADS=1``) plays N episodes of a cell at
once; on a small CPU ``--num-envs 16`` plays 16 at once and decodes them in one batch
(``benchmarks/results/batched_episodes.json`` measures the gain); a cell resumes under any backend.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from pathlib import Path

ENV_ID = "CoTDiag-ALFWorld-v0"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def training_log(folder: Path) -> dict:
    """The loss curve and size of the agent's training run, from its folder (empty when absent)."""
    out: dict = {}
    log = folder / "train_log.json"
    if log.is_file():
        t = json.loads(log.read_text())
        hist = t.get("log_history", [])
        out = {"steps": t.get("steps"), "decisions": t.get("decisions"), "examples": t.get("examples"),
               "loss_curve": [[h["step"], h["loss"]] for h in hist if "loss" in h],
               "train_runtime_s": next((h["train_runtime"] for h in hist if "train_runtime" in h), None),
               "epochs": next((h["epoch"] for h in reversed(hist) if "epoch" in h), None)}
    prov = folder / "cotdiag_provenance.json"
    if prov.is_file():
        out["provenance"] = json.loads(prov.read_text())
    state = folder / "trainer_state.json"  # a shipped agent or a checkpoint-N: the trainer's own log
    if state.is_file() and not out.get("loss_curve"):
        st = json.loads(state.read_text())
        out["loss_curve"] = [[h["step"], h["loss"]] for h in st["log_history"] if "loss" in h]
        out.setdefault("steps", st.get("global_step"))
        out.setdefault("epochs", st.get("epoch"))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m-alfworld", help="agent folder, checkpoint or named model")
    ap.add_argument("--splits", default="eval_id_task_types,eval_ood_task_types")
    ap.add_argument("--episodes", type=int, default=30)
    ap.add_argument("--max-steps", type=int, default=50)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--context-drop-block", type=int, default=1,
                    help="a conversation past the context budget drops its turn pairs in multiples of this "
                         "(HFPolicy's context_drop_block; 1 as in training; recorded in each run's config)")
    ap.add_argument("--cells", default="random,expert,prompt,cot,prompt+score,cot+score",
                    help="which policy cells to play, in order")
    ap.add_argument("--dtype", default=None, help="inference dtype (default: HFPolicy's)")
    ap.add_argument("--device", default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--runs", type=Path, default=Path("runs/bench/smollm2_alfworld"))
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/smollm2_alfworld.json"))
    ap.add_argument("--backend", default="local", choices=["local", "ray"],
                    help="ray: play --num-workers episodes of a cell at once, one policy copy per Ray actor "
                         "(cotdiag.rollout.ray; records equal the local backend's)")
    ap.add_argument("--num-workers", type=int, default=None, help="Ray actors (default: one per CPU)")
    ap.add_argument("--num-envs", type=int, default=1,
                    help="local backend: play this many episodes at once on a vector env; the agent decodes them "
                         "in one batch, each on its own cache (cotdiag.agents.hf_batch; records equal one at a time)")
    ap.add_argument("--run-setup", default="", help="with --collect: how the cells were run (recorded as is)")
    ap.add_argument("--collect", action="store_true",
                    help="write --out from the episodes recorded under --runs so far (finished and unfinished "
                         "cells, each with its n), without playing")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.collect:
        collect(args)
        return

    import cotdiag  # noqa: F401
    from cotdiag.agents import ExpertPolicy, HFPolicy, RandomPolicy
    from cotdiag.agents.pretrained import resolve_model
    from cotdiag.agents.responder import ActionResponder
    from cotdiag.diagnostics.report import display_path
    from cotdiag.rollout import evaluate
    from cotdiag.rollout.factory import DecodedEnvFactory

    folder = Path(resolve_model(args.model))
    agents = {sel: HFPolicy(args.model, max_new_tokens=args.max_new_tokens, seed=args.seed, device=args.device,
                            dtype=args.dtype, action_selection=sel,
                            context_drop_block=args.context_drop_block) for sel in ("generate", "score")}
    protocol = agents["generate"].protocol
    cells = [c for c in args.cells.split(",") if c]
    prev = json.loads(args.out.read_text()) if args.out.is_file() else {}
    rows = [r for r in prev.get("rows", []) if r.get("model") == display_path(str(args.model))]
    t0 = time.perf_counter()
    for split in [s for s in args.splits.split(",") if s]:
        for cell in cells:
            mode, _, sel = cell.partition("+")
            if cell in ("random", "expert"):
                name, mode = cell, "cot"  # answer through the CoT wrapper like the agent (ActionResponder)
                inner = RandomPolicy(seed=args.seed) if cell == "random" else ExpertPolicy()
                policy = ActionResponder(inner, cell)
            else:
                name, policy = f"agent/{sel or 'generate'}", agents["score" if sel else "generate"]
            run = args.runs / f"{name.replace('/', '_')}__{mode}__{split}"
            factory = DecodedEnvFactory(ENV_ID, mode, max_episode_steps=args.max_steps, protocol=protocol)
            t = time.perf_counter()
            s = evaluate(ENV_ID, policy, run, split=split, episodes=args.episodes, seed=args.seed,
                         max_episode_steps=args.max_steps, make_env=factory, backend=args.backend,
                         num_workers=args.num_workers, num_envs=args.num_envs if args.backend == "local" else 1)
            recs = [json.loads(line) for line in (run / "episodes.jsonl").read_text().splitlines() if line.strip()]
            steps = [st for r in recs for st in r.get("policy_steps", [])]
            row = {"model": display_path(str(args.model)), "policy": name, "mode": mode, "split": split,
                   "episodes": s["episodes"], "success_rate": s["success_rate"],
                   "success_rate_ci95": s["success_rate_ci95"], "mean_score": s["mean_score"],
                   "mean_steps": s["mean_steps"], "errors": s["errors"], "format_error_rate": s["format_error_rate"],
                   "invalid_action_rate": s["invalid_action_rate"], "by_task_type": s["by_task_type"],
                   "wall_s": round(time.perf_counter() - t, 1)}
            if steps:  # scoring: how often the chosen action differs from the generated one
                row["score_changed_rate"] = sum(st["generated"] != st["chosen"] for st in steps) / len(steps)
            rows = [r for r in rows if (r["policy"], r["mode"], r["split"]) != (name, mode, split)] + [row]
            logging.info("%s", {k: v for k, v in row.items() if k != "by_task_type"})
            _write(args, rows, folder, protocol, agents["generate"], t0)
    _write(args, rows, folder, protocol, agents["generate"], t0)


def collect(args) -> None:
    """``--out`` from every run folder under ``--runs`` (``POLICY__MODE__SPLIT``), partial cells included."""
    from cotdiag.agents.pretrained import resolve_model
    from cotdiag.diagnostics.report import display_path
    from cotdiag.response.protocol import load_protocol
    from cotdiag.rollout import summarize

    rows = []
    for run in sorted(p for p in args.runs.iterdir() if (p / "episodes.jsonl").is_file()):
        name, mode, split = run.name.split("__")
        recs = [json.loads(line) for line in (run / "episodes.jsonl").read_text().splitlines() if line.strip()]
        cfg = json.loads((run / "config.json").read_text())
        s = summarize(recs)
        steps = [st for r in recs for st in r.get("policy_steps", [])]
        row = {"model": display_path(str(args.model)), "policy": name.replace("agent_", "agent/"), "mode": mode,
               "split": split, "episodes": s["episodes"], "episodes_planned": cfg.get("episodes"),
               "complete": s["episodes"] >= int(cfg.get("episodes") or 0), "success_rate": s["success_rate"],
               "success_rate_ci95": s["success_rate_ci95"], "mean_score": s["mean_score"],
               "mean_steps": s["mean_steps"], "errors": s["errors"], "format_error_rate": s["format_error_rate"],
               "invalid_action_rate": s["invalid_action_rate"], "by_task_type": s["by_task_type"],
               "wall_s": round(sum(r["wall_time_s"] for r in recs), 1),
               "episodes_detail": [{"task_id": r["task_id"], "seed": r["seed"], "success": r["success"],
                                    "steps": r["steps"]} for r in recs]}
        if steps:
            row["score_changed_rate"] = sum(st["generated"] != st["chosen"] for st in steps) / len(steps)
        if not row["complete"]:  # wins end first, so a stopped cell's records over-represent them
            done = {r["episode"] for r in recs}
            n = next(i for i in range(len(done) + 1) if i not in done)
            head = summarize([r for r in recs if r["episode"] < n]) if n else None
            row["complete_prefix"] = {"episodes": n, "success_rate": head and head["success_rate"],
                                      "success_rate_ci95": head and head["success_rate_ci95"],
                                      "note": "the plan's first n episodes, all recorded: an unbiased sample"}
        rows.append(row)
    folder = Path(resolve_model(args.model))

    class _Agent:  # what _write reads of a policy, without loading the model
        device, dtype = "cpu", args.dtype or "float32"

    _write(args, rows, folder, load_protocol(folder), _Agent(), time.perf_counter())
    result = json.loads(args.out.read_text())
    result["collected"] = ("rows built from the recorded episodes (--collect); a row with complete=false is a cell "
                           "stopped before its planned episodes; 'threads' is the collecting process's, see run_setup")
    result["run_setup"] = args.run_setup
    args.out.write_text(json.dumps(result, indent=2) + "\n")


def _write(args, rows, folder, protocol, agent, t0) -> None:
    import torch
    import transformers

    from cotdiag.diagnostics.report import display_path

    result = {
        "model": display_path(str(args.model)), "env_id": ENV_ID, "episodes_per_cell": args.episodes,
        "max_episode_steps": args.max_steps, "max_new_tokens": args.max_new_tokens, "seed": args.seed,
        "protocol": protocol.to_dict() if protocol else None, "device": str(agent.device), "dtype": str(agent.dtype),
        "threads": torch.get_num_threads(), "versions": {"torch": torch.__version__,
                                                         "transformers": transformers.__version__},
        "training": training_log(folder), "wall_s_this_run": round(time.perf_counter() - t0, 1), "rows": rows,
        "note": "same episode plan (task ids, reset seeds) for every policy of a split; CIs are Wilson 95%; "
                "random and the expert answer through the CoT decoding wrapper (ActionResponder); "
                "'agent/generate' is free generation (the headline), 'agent/score' picks the admissible action "
                "with the highest summed log-probability after the generated response prefix",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
