"""The study at small scale on real ALFWorld games (``cotdiag demo`` / ``make demo``).

1. Expert dataset with templated CoT on a subset of the ``train`` games.
2. The embedded default: a BPE tokenizer and a tiny Qwen2 model trained from scratch.
3. SFT twice from the same initialisation: ``k = 0`` (ordinary) and ``k = 0.3`` (reduced action
   supervision), with checkpoints.
4. Both models act through :class:`~cotdiag.wrappers.DecodingModeWrapper` in prompt and CoT mode
   on ``valid_seen`` (in-domain) and ``valid_unseen`` (out-of-domain) subsets, next to the random
   policy; ``OUT/demo_summary.json`` holds every cell (the CLI prints them as one table).

Every stage resumes: a finished stage's outputs are reused when the demo is run again.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cotdiag.pipelines.ui import LogUI, PipelineUI
from cotdiag.rollout.factory import DecodedEnvFactory

ENV_ID = "CoTDiag-ALFWorld-v0"
EVAL_SPLITS = ("valid_seen", "valid_unseen")


#: What the demo's numbers are not, printed after its table (and kept in ``demo_summary.json``).
DEMO_NOTES: tuple[str, ...] = (
    "the demo's model is a tiny Qwen2 trained from scratch in minutes: it shows the pipeline runs, "
    "not what the diagnostics measure (its online success sits at chance).",
    "it trains on the 'mixed' response format, which supervises <action>a</action> directly and so "
    "trains the prompt action: a confound of the prompt-quality and consistency findings.",
    "the study on a pretrained chat model (SmolLM2-135M-Instruct, `--model smollm2-135m`): "
    "benchmarks/study_smollm2/run.sh, results in benchmarks/results/study_smollm2/README.md.",
)


@dataclass
class DemoConfig:
    """Sizes of the demo (defaults fit about 25 minutes on 2 CPU cores); ``cotdiag demo`` takes every
    field as an option."""

    train_episodes: int = field(default=30, metadata={"help": "Expert episodes on ALFWorld train for SFT data.", "min": 1})
    eval_episodes: int = field(default=6, metadata={"help": "Episodes per (policy, mode, split).", "min": 1})
    eval_max_steps: int = field(default=25, metadata={"help": "Step limit of evaluation episodes.", "min": 1})
    epochs: float = field(default=4.0, metadata={"help": "SFT epochs."})
    lr: float = field(default=2e-3, metadata={"help": "SFT learning rate."})
    batch_size: int = field(default=8, metadata={"help": "SFT batch size (examples).", "min": 1})
    save_steps: int = field(default=50, metadata={"help": "SFT checkpoint interval (optimizer steps).", "min": 1})
    history_window: int = field(default=3, metadata={"help": "Past steps shown in prompts."})
    mask_ratios: tuple[float, ...] = field(default=(0.0, 0.3), metadata={
        "help": "Action-mask ratios k of the SFT runs, comma-separated (one run each)."})
    #: "mixed": half the examples in each format. A model trained from scratch has never seen
    #: ``<action>`` right after the prompt when trained on CoT only, so its prompt actions would be
    #: format errors, not a measurement (pretrained models in the study do not have this problem).
    response_format: str = field(default="mixed", metadata={"help": "SFT response format: cot, prompt or mixed."})
    max_new_tokens_cot: int = field(default=80, metadata={"help": "Generation budget in CoT mode (tokens).", "min": 1})
    max_new_tokens_prompt: int = field(default=24, metadata={"help": "Generation budget in prompt mode (tokens).",
                                                             "min": 1})
    num_envs: int = field(default=2, metadata={"help": "Async ALFWorld envs per evaluation (env steps in parallel).",
                                               "min": 1})
    seed: int = field(default=0, metadata={"help": "Seed of data, training and the episode plan."})
    #: torch CPU threads: 1 avoids oversubscription (tiny models are latency-bound; measured 5-25x
    #: faster than 2 threads on a loaded 2-core machine).
    torch_threads: int = field(default=1, metadata={"help": "torch CPU threads (1: tiny models are latency-bound).",
                                                    "min": 1})


def _sft_config(cfg: DemoConfig, out: Path, k: float) -> Any:
    """The demo's SFT settings for mask ratio ``k`` (the rest are ``ActionMaskSFTConfig``'s defaults)."""
    from cotdiag.baselines.sft import ActionMaskSFTConfig

    return ActionMaskSFTConfig(
        output_dir=str(out), action_mask_ratio=k, response_format=cfg.response_format, num_train_epochs=cfg.epochs,
        learning_rate=cfg.lr, per_device_train_batch_size=cfg.batch_size, save_steps=cfg.save_steps, seed=cfg.seed,
        max_length=1024, disable_tqdm=True)


def _evaluate(policy: Any, out: Path, split: str, cfg: DemoConfig, mode: str | None, label: str, ui: PipelineUI) -> dict:
    from cotdiag.rollout import evaluate

    make_env = DecodedEnvFactory(ENV_ID, mode, cfg.history_window, cfg.eval_max_steps)
    with ui.progress(f"{label} on {split}", cfg.eval_episodes) as update:
        return evaluate(ENV_ID, policy, out, split=split, episodes=cfg.eval_episodes, seed=cfg.seed,
                        max_episode_steps=cfg.eval_max_steps, make_env=make_env, num_envs=cfg.num_envs,
                        progress=lambda d, n: update(d))


def run_demo(out: Path, cfg: DemoConfig, ui: PipelineUI | None = None) -> dict[str, Any]:
    """Run the whole demo into ``out``; returns (and writes) ``demo_summary.json``'s content:
    ``config``, ``notes``, ``parameters``, ``rows_in_dataset``, ``wall_time_s``, ``results`` (one
    row per (policy, mode) with each split's success rate, Wilson CI, mean steps and format-error
    rate) and ``cot_advantage`` (per SFT model and split: CoT minus prompt success)."""
    import torch

    from cotdiag.agents.hf import HFPolicy
    from cotdiag.agents.random import RandomPolicy
    from cotdiag.pipelines.data import build_data
    from cotdiag.pipelines.train import run_sft

    ui = ui or LogUI()
    torch.set_num_threads(cfg.torch_threads)
    t0 = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    ui.stage("1/4 expert dataset (ALFWorld train subset, templated CoT)")
    data_dir = out / "data"
    if (data_dir / "cotdiag_data.json").is_file():
        from datasets import load_from_disk

        ds = load_from_disk(str(data_dir))
        ui.say(f"reusing {data_dir} ({len(ds)} rows)")
    else:
        ds = build_data(ENV_ID, "train", data_dir, cfg.train_episodes, seed=cfg.seed, history="window",
                        history_window=cfg.history_window, ui=ui)  # the demo's window protocol

    ui.say(f"{time.perf_counter() - t0:.0f}s elapsed")
    ui.stage("2/4 tokenizer and tiny model")
    from cotdiag.baselines.tiny import load_or_build_model

    init = out / "init"
    if not (init / "config.json").is_file():
        load_or_build_model("tiny", ds, out)
    n_params = json.loads((init / "cotdiag_tiny.json").read_text())["parameters"]
    ui.say(f"tiny Qwen2: {n_params / 1e6:.2f}M parameters -> {init}")

    ui.stage("3/4 SFT with reduced action supervision")
    models = {}
    for k in cfg.mask_ratios:
        mdir = out / f"sft_k{k:g}"
        if not (mdir / "train_log.json").is_file():
            run_sft(data_dir, str(init), _sft_config(cfg, mdir, k), description=f"SFT k={k:g}", ui=ui)
        else:
            ui.say(f"reusing {mdir}")
        models[k] = mdir
        ui.say(f"{time.perf_counter() - t0:.0f}s elapsed")

    ui.stage("4/4 evaluation through the decoding wrapper")
    rows: list[dict[str, Any]] = []
    row: dict[str, Any] = {"policy": "random", "mode": "-"}
    for split in EVAL_SPLITS:
        s = _evaluate(RandomPolicy(seed=cfg.seed), out / "eval" / f"random__{split}", split, cfg, None, "random", ui)
        row[split] = s
    rows.append(row)
    for k, mdir in models.items():
        for mode in ("prompt", "cot"):
            budget = cfg.max_new_tokens_cot if mode == "cot" else cfg.max_new_tokens_prompt
            policy = HFPolicy(mdir, max_new_tokens=budget, seed=cfg.seed)
            row = {"policy": f"SFT k={k:g}", "mode": mode}
            for split in EVAL_SPLITS:
                run_dir = out / "eval" / f"sft_k{k:g}__{mode}__{split}"
                row[split] = _evaluate(policy, run_dir, split, cfg, mode, f"SFT k={k:g} {mode}", ui)
            rows.append(row)
        ui.say(f"{time.perf_counter() - t0:.0f}s elapsed")
    advantage = {}
    for k in cfg.mask_ratios:
        by = {r["mode"]: r for r in rows if r["policy"] == f"SFT k={k:g}"}
        advantage[f"SFT k={k:g}"] = {sp: by["cot"][sp]["success_rate"] - by["prompt"][sp]["success_rate"] for sp in EVAL_SPLITS}
    wall = time.perf_counter() - t0
    summary = {"config": asdict(cfg), "notes": list(DEMO_NOTES), "parameters": n_params, "rows_in_dataset": len(ds), "wall_time_s": wall,
               "results": [{"policy": r["policy"], "mode": r["mode"],
                            **{sp: {kk: r[sp][kk] for kk in ("episodes", "success_rate", "success_rate_ci95",
                                                              "mean_steps") if kk in r[sp]}
                               | {"format_error_rate": None if r["mode"] == "-" else r[sp].get("format_error_rate")}
                               for sp in EVAL_SPLITS}}
                           for r in rows], "cot_advantage": advantage}
    (out / "demo_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary
