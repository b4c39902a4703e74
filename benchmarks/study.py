"""The study of docs/concepts.md on one environment: data, SFT with k = 0 and k = 0.3, `cotdiag diagnose`.

Stages (each one is skipped when its output exists, so a killed run resumes):

1. Expert data on the training split (`build_dataset`, templated traces, a history window plus the
   episode's first observation).
2. Held-out expert states on each evaluation split, built with another seed; states of tasks that
   appear in the training data are dropped by `cotdiag diagnose --exclude-data`.
3. The model: `tiny` (the embedded default; its tokenizer is trained on the training data), a
   named pretrained model (`smollm2-135m`) or any path / hub id. SFT from that same initialisation
   once per k in `--mask-ratios` (reduced action supervision), checkpoints every `--save-steps`.
   The response format is CoT-only by default; `--response-format mixed` also supervises
   `<action>a</action>` directly, which trains the prompt action (a confound of findings 1 and 3:
   reports that use it say so).
4. `cotdiag diagnose` for each run and evaluation split (offline, conflicting traces, attention and
   gradient mass, online episodes in both modes on tasks outside the training data).

`--stage data` stops after stages 1-2, so several processes (one per k, `--mask-ratios 0` and
`--mask-ratios 0.3`) can then share the data and run side by side.

Example (BFCL, tiny model, about 40 minutes on one CPU core):
    python benchmarks/study.py --env CoTDiag-BFCL-v0 --train-split in_domain \
        --eval-splits in_domain,ood_long_context --train-episodes 300 --out /tmp/study/bfcl
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

logger = logging.getLogger("study")


def build(env: str, split: str, episodes: int, seed: int, out: Path, history_window: int) -> None:
    from cotdiag.baselines.data import DataConfig, build_dataset, data_config_dict, save_dataset

    if (out / "cotdiag_data.json").is_file():
        return
    cfg = DataConfig(history_window=history_window)
    ds = build_dataset(env, split, episodes=episodes, config=cfg, seed=seed)
    save_dataset(ds, out, {"env": env, "split": split, "episodes": episodes, "seed": seed,
                           "config": data_config_dict(cfg)})
    logger.info("%s %s: %d states from %d expert episodes -> %s", env, split, len(ds), episodes, out)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--env", required=True)
    ap.add_argument("--train-split", required=True)
    ap.add_argument("--eval-splits", required=True, help="comma-separated")
    ap.add_argument("--train-episodes", type=int, default=100)
    ap.add_argument("--heldout-episodes", type=int, default=20)
    ap.add_argument("--history-window", type=int, default=3)
    ap.add_argument("--model", default="tiny", help="tiny | smollm2-135m | a path or hub id")
    ap.add_argument("--response-format", default="cot", choices=["cot", "prompt", "mixed"])
    ap.add_argument("--epochs", type=float, default=4.0)
    ap.add_argument("--max-steps", type=int, default=-1, help="optimizer steps (-1: --epochs)")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--save-steps", type=int, default=50)
    ap.add_argument("--max-length", type=int, default=1024)
    ap.add_argument("--mask-ratios", default="0,0.3")
    ap.add_argument("--states", type=int, default=40)
    ap.add_argument("--conflict-states", type=int, default=20)
    ap.add_argument("--fractions", default="0,0.25,0.5,0.75,1")
    ap.add_argument("--sources", default="swap,templated", help="conflicting-trace sources")
    ap.add_argument("--no-gradient-checkpointing", action="store_true",
                    help="small models on CPU: skip TRL's activation recomputation (about 30%% faster)")
    ap.add_argument("--attribution-examples", type=int, default=10)
    ap.add_argument("--online-episodes", type=int, default=8)
    ap.add_argument("--online-max-steps", type=int, default=None)
    ap.add_argument("--max-new-tokens", type=int, default=96)
    ap.add_argument("--batch-size-generate", type=int, default=8)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--stage", default="all", choices=["data", "all"])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=0)
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    import torch
    from datasets import load_from_disk

    from cotdiag.baselines.sft import ActionMaskSFTConfig
    from cotdiag.baselines.tiny import load_or_build_model
    from cotdiag.pipelines.train import run_sft

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    out: Path = args.out
    splits = [s for s in args.eval_splits.split(",") if s]
    train_dir = out / "data_train"
    build(args.env, args.train_split, args.train_episodes, args.seed, train_dir, args.history_window)
    for split in splits:
        build(args.env, split, args.heldout_episodes, args.seed + 1, out / f"data_{split}", args.history_window)
    if args.stage == "data":
        return
    ds = load_from_disk(str(train_dir))
    if args.model == "tiny":
        if not (out / "init" / "config.json").is_file():
            load_or_build_model("tiny", ds, out)
        init = str(out / "init")
    else:
        init = load_or_build_model(args.model, ds, out)
    runs = []
    for k in (float(x) for x in args.mask_ratios.split(",")):
        run = out / f"sft_k{k:g}"
        if not (run / "train_log.json").is_file():
            cfg = ActionMaskSFTConfig(
                output_dir=str(run), action_mask_ratio=k, response_format=args.response_format,
                num_train_epochs=args.epochs, learning_rate=args.lr, per_device_train_batch_size=args.batch_size,
                save_steps=args.save_steps, max_steps=args.max_steps, seed=args.seed, max_length=args.max_length,
                gradient_checkpointing=not args.no_gradient_checkpointing, disable_tqdm=True)
            run_sft(train_dir, init, cfg, description=f"SFT k={k:g}")
        runs.append(run)
    for run in runs:
        for split in splits:
            dest = out / "out" / run.name / split
            if (dest / "report.json").is_file():
                continue
            cmd = [str(Path(sys.executable).parent / "cotdiag"), "diagnose", "--checkpoints", str(run), "--env", args.env,
                   "--split", split, "--data", str(out / f"data_{split}"), "--exclude-data", str(train_dir),
                   "--out", str(dest), "--states", str(args.states), "--conflict-states", str(args.conflict_states),
                   "--fractions", args.fractions, "--sources", args.sources, "--attribution-examples", str(args.attribution_examples),
                   "--online-episodes", str(args.online_episodes), "--max-new-tokens", str(args.max_new_tokens),
                   "--max-prompt-tokens", str(args.max_length - args.max_new_tokens),
                   "--batch-size", str(args.batch_size_generate),
                   "--device", args.device, "--seed", str(args.seed)]
            if args.online_max_steps:
                cmd += ["--online-max-steps", str(args.online_max_steps)]
            logger.info("%s", " ".join(cmd))
            subprocess.run(cmd, check=True)
    (out / "study_args.json").write_text(json.dumps({k: str(v) for k, v in vars(args).items()}, indent=2) + "\n")


if __name__ == "__main__":
    main()
