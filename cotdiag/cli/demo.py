"""The study at small scale on real ALFWorld games (``cotdiag demo`` / ``make demo``).

1. Expert dataset with templated CoT on a subset of the ``train`` games.
2. The embedded default: a BPE tokenizer and a tiny Qwen2 model trained from scratch.
3. SFT twice from the same initialisation: ``k = 0`` (ordinary) and ``k = 0.3`` (reduced action
   supervision), with checkpoints.
4. Both models act through :class:`~cotdiag.wrappers.DecodingModeWrapper` in prompt and CoT mode
   on ``valid_seen`` (in-domain) and ``valid_unseen`` (out-of-domain) subsets, next to the random
   policy; one comparison table, written to ``OUT/demo_summary.json`` as well.

Every stage resumes: a finished stage's outputs are reused when the demo is run again.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rich.table import Table

from cotdiag.cli.app import make_console
from cotdiag.rollout.factory import DecodedEnvFactory

console = make_console()
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
    """Sizes of the demo (defaults fit about 25 minutes on 2 CPU cores)."""

    train_episodes: int = 30
    eval_episodes: int = 6
    eval_max_steps: int = 25
    epochs: float = 4.0
    lr: float = 2e-3
    batch_size: int = 8
    save_steps: int = 50
    history_window: int = 3
    mask_ratios: tuple[float, ...] = (0.0, 0.3)
    #: "mixed": half the examples in each format. A model trained from scratch has never seen
    #: ``<action>`` right after the prompt when trained on CoT only, so its prompt actions would be
    #: format errors, not a measurement (pretrained models in the study do not have this problem).
    response_format: str = "mixed"
    max_new_tokens_cot: int = 80
    max_new_tokens_prompt: int = 24
    num_envs: int = 2
    seed: int = 0
    #: torch CPU threads: 1 avoids oversubscription (tiny models are latency-bound; measured 5-25x
    #: faster than 2 threads on a loaded 2-core machine).
    torch_threads: int = 1


def _sft_config(cfg: DemoConfig, out: Path, k: float) -> Any:
    """The demo's SFT settings for mask ratio ``k`` (the rest are ``ActionMaskSFTConfig``'s defaults)."""
    from cotdiag.baselines.sft import ActionMaskSFTConfig

    return ActionMaskSFTConfig(
        output_dir=str(out), action_mask_ratio=k, response_format=cfg.response_format, num_train_epochs=cfg.epochs,
        learning_rate=cfg.lr, per_device_train_batch_size=cfg.batch_size, save_steps=cfg.save_steps, seed=cfg.seed,
        max_length=1024, disable_tqdm=True)


def _evaluate(policy: Any, out: Path, split: str, cfg: DemoConfig, mode: str | None, label: str) -> dict:
    from cotdiag.cli.train import progress_bar
    from cotdiag.rollout import evaluate

    make_env = DecodedEnvFactory(ENV_ID, mode, cfg.history_window, cfg.eval_max_steps)

    with progress_bar() as bar:
        task = bar.add_task(f"{label} on {split}", total=cfg.eval_episodes)
        return evaluate(ENV_ID, policy, out, split=split, episodes=cfg.eval_episodes, seed=cfg.seed,
                        max_episode_steps=cfg.eval_max_steps, make_env=make_env, num_envs=cfg.num_envs,
                        progress=lambda d, n: bar.update(task, completed=d))


def comparison_table(rows: list[dict[str, Any]]) -> Table:
    """One row per (policy, mode): success rate (95% CI) per split and the CoT advantage."""
    table = Table(title="CoTDiag demo: tiny Qwen2 on ALFWorld (success rate, Wilson 95% CI)")
    table.add_column("policy")
    table.add_column("mode")
    for split in EVAL_SPLITS:
        table.add_column(split, justify="right")
        table.add_column(f"{split} format err.", justify="right")
    for r in rows:
        cells = [r["policy"], r["mode"]]
        for split in EVAL_SPLITS:
            s = r[split]
            lo, hi = s["success_rate_ci95"]
            cells.append(f"{s['success_rate']:.2f} [{lo:.2f}, {hi:.2f}]")
            no_wrapper = r["mode"] == "-" or s.get("format_error_rate") is None
            cells.append("-" if no_wrapper else f"{s['format_error_rate']:.2f}")
        table.add_row(*cells)
    return table


def run_demo(out: Path, cfg: DemoConfig) -> dict[str, Any]:
    """Run the whole demo into ``out``; returns (and writes) ``demo_summary.json``'s content."""
    import torch

    from cotdiag.agents.hf import HFPolicy
    from cotdiag.agents.random import RandomPolicy
    from cotdiag.cli.train import build_data_cmd, run_sft

    torch.set_num_threads(cfg.torch_threads)
    t0 = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    console.rule("[bold]1/4 expert dataset (ALFWorld train subset, templated CoT)")
    data_dir = out / "data"
    if (data_dir / "cotdiag_data.json").is_file():
        from datasets import load_from_disk

        ds = load_from_disk(str(data_dir))
        console.print(f"reusing {data_dir} ({len(ds)} rows)")
    else:
        ds = build_data_cmd(ENV_ID, "train", data_dir, cfg.train_episodes, "templated", cfg.seed,
                            cfg.history_window, None, False, history="window")  # the demo's window protocol

    console.print(f"[dim]{time.perf_counter() - t0:.0f}s elapsed[/dim]")
    console.rule("[bold]2/4 tokenizer and tiny model")
    from cotdiag.baselines.sft import load_or_build_model

    init = out / "init"
    if not (init / "config.json").is_file():
        load_or_build_model("tiny", ds, out)
    n_params = json.loads((init / "cotdiag_tiny.json").read_text())["parameters"]
    console.print(f"tiny Qwen2: {n_params / 1e6:.2f}M parameters -> {init}")

    console.rule("[bold]3/4 SFT with reduced action supervision")
    models = {}
    for k in cfg.mask_ratios:
        mdir = out / f"sft_k{k:g}"
        if not (mdir / "train_log.json").is_file():
            run_sft(data_dir, str(init), _sft_config(cfg, mdir, k), description=f"SFT k={k:g}")
        else:
            console.print(f"reusing {mdir}")
        models[k] = mdir
        console.print(f"[dim]{time.perf_counter() - t0:.0f}s elapsed[/dim]")

    console.rule("[bold]4/4 evaluation through the decoding wrapper")
    rows: list[dict[str, Any]] = []
    row: dict[str, Any] = {"policy": "random", "mode": "-"}
    for split in EVAL_SPLITS:
        s = _evaluate(RandomPolicy(seed=cfg.seed), out / "eval" / f"random__{split}", split, cfg, None, "random")
        row[split] = s
    rows.append(row)
    for k, mdir in models.items():
        for mode in ("prompt", "cot"):
            budget = cfg.max_new_tokens_cot if mode == "cot" else cfg.max_new_tokens_prompt
            policy = HFPolicy(mdir, max_new_tokens=budget, seed=cfg.seed)
            row = {"policy": f"SFT k={k:g}", "mode": mode}
            for split in EVAL_SPLITS:
                run_dir = out / "eval" / f"sft_k{k:g}__{mode}__{split}"
                row[split] = _evaluate(policy, run_dir, split, cfg, mode, f"SFT k={k:g} {mode}")
            rows.append(row)
        console.print(f"[dim]{time.perf_counter() - t0:.0f}s elapsed[/dim]")
    table = comparison_table(rows)
    console.print(table)
    for k in cfg.mask_ratios:
        by = {r["mode"]: r for r in rows if r["policy"] == f"SFT k={k:g}"}
        adv = ", ".join(f"{sp}: {by['cot'][sp]['success_rate'] - by['prompt'][sp]['success_rate']:+.2f}"
                        for sp in EVAL_SPLITS)
        console.print(f"CoT advantage (online success, cot - prompt) for k={k:g}: {adv}")
    wall = time.perf_counter() - t0
    summary = {"config": asdict(cfg), "notes": list(DEMO_NOTES), "parameters": n_params, "rows_in_dataset": len(ds), "wall_time_s": wall,
               "results": [{"policy": r["policy"], "mode": r["mode"],
                            **{sp: {kk: r[sp][kk] for kk in ("episodes", "success_rate", "success_rate_ci95",
                                                              "mean_steps") if kk in r[sp]}
                               | {"format_error_rate": None if r["mode"] == "-" else r[sp].get("format_error_rate")}
                               for sp in EVAL_SPLITS}}
                           for r in rows]}
    (out / "demo_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    console.print(f"total wall time {wall / 60:.1f} min; summary: {out / 'demo_summary.json'}")
    for note in DEMO_NOTES:
        console.print(f"[yellow]note:[/yellow] {note}")
    return summary
