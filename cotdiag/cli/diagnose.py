"""``cotdiag diagnose``: prompt-vs-CoT, faithfulness battery, conflicting-trace, attention and gradient diagnostics."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any

import typer

import cotdiag  # noqa: F401  (registers envs)
from cotdiag.cli.app import app, make_console

console = make_console()
logger = logging.getLogger(__name__)


def _model_path(spec: str) -> str:
    kind, sep, arg = spec.partition(":")
    if sep and kind == "hf":
        return arg
    if sep and kind not in ("hf",) and not Path(spec).exists():
        raise typer.BadParameter(f"expected hf:PATH or a model folder, got {spec!r}")
    return spec


def _states(env: str, split: str | None, data: Path | None, episodes: int, seed: int,
            protocol: Any = None) -> tuple[list[dict], dict]:
    """Held-out decision states: from ``--data``, else from expert episodes rendered with the model's
    protocol (conversation rows become one state per decision, each carrying its turns)."""
    from cotdiag.baselines.conversation import conversation_states
    from cotdiag.baselines.data import DataConfig, build_dataset, data_config_dict, load_data_meta

    if data is not None:
        from datasets import load_from_disk

        ds = load_from_disk(str(data))
        meta = load_data_meta(data)
        rows = [dict(r) for r in ds]
        return (conversation_states(rows) if "messages" in ds.column_names else rows), {"source": str(data), "meta": meta}
    msg = f"building held-out expert states: {episodes} expert episodes of {env} ({split})"
    if not console.is_terminal:
        console.print(msg)  # a status spinner prints nothing when piped
    with console.status(msg):
        ds = build_dataset(env, split, episodes=episodes, seed=seed, protocol=protocol)
    window = protocol is not None and not protocol.conversation
    meta = {"config": data_config_dict(DataConfig.from_protocol(protocol) if window else DataConfig()),
            "protocol": protocol.to_dict() if protocol else None}
    rows = [dict(r) for r in ds]
    states = conversation_states(rows) if "messages" in ds.column_names else rows
    return states, {"source": f"build_dataset(episodes={episodes}, seed={seed})", "meta": meta}


def _config(*, fractions: str, sources: str, **kw: Any) -> Any:
    """The :class:`~cotdiag.diagnostics.sweep.DiagnoseConfig` of the options (bad values: BadParameter)."""
    from cotdiag.diagnostics.sweep import DiagnoseConfig

    try:
        return DiagnoseConfig(
            fractions=tuple(float(f) for f in fractions.split(",") if f.strip()),
            sources=tuple(s.strip() for s in sources.split(",") if s.strip()), **kw,
        )
    except ValueError as e:
        raise typer.BadParameter(str(e)) from e


def _meta(*, policy: str | None, checkpoints: Path | None, env: str, split: str, seed: int, cfg: Any, n_states: int,
          data_info: dict, exclude_data: Path | None, n_seen: int, max_new_tokens: int, max_prompt_tokens: int | None,
          online_max_steps: int | None) -> dict[str, Any]:
    """The report's ``meta``: what was diagnosed, on which states, with which settings."""
    from cotdiag.diagnostics.sweep import config_dict

    return {
        "model": policy or f"checkpoints of {checkpoints}", "checkpoints_dir": str(checkpoints) if checkpoints else None, "env_id": env,
        "split": split, "seed": seed, "config": config_dict(cfg),
        "data": {"n_states": n_states, "source": data_info["source"], "config": data_info["meta"].get("config"),
                 "excluded_training_data": str(exclude_data) if exclude_data else None,
                 "excluded_training_tasks": n_seen},
        "generation": {"max_new_tokens": max_new_tokens, "max_prompt_tokens": max_prompt_tokens, "greedy": True},
        "online_max_steps": online_max_steps,
    }


@app.command()
def diagnose(
    policy: str = typer.Option(None, help="Model to diagnose: hf:PATH (a final model; with --checkpoints it is added last)."),
    checkpoints: Path = typer.Option(None, help="Folder of checkpoint-N sub-folders, diagnosed in order of N."),
    env: str = typer.Option("CoTDiag-ALFWorld-v0", help="Registered env id."),
    split: str = typer.Option("valid_seen", help="Env split of the held-out states and online episodes."),
    out: Path = typer.Option(Path("runs/diagnose"), help="Output folder (report.json, report.md, PNGs)."),
    data: Path = typer.Option(None, help="Saved dataset of held-out states (cotdiag build-data); default: build it."),
    exclude_data: Path = typer.Option(None, help="Training dataset (cotdiag build-data): its task ids are left out of the held-out states and the online plan."),
    data_episodes: int = typer.Option(5, min=1, help="Expert episodes played to build the states when --data is not given."),
    states: int = typer.Option(50, min=1, help="States for the offline metrics (a seeded random sample)."),
    conflict_states: int = typer.Option(None, min=0, help="States for the conflicting-trace test (0: skip; default: 30 or --states if fewer)."),
    fractions: str = typer.Option("0,0.25,0.5,0.75,1", help="Trace truncation fractions, comma-separated."),
    sources: str = typer.Option("swap,templated", help="Conflicting-trace sources: swap, templated."),
    tests: str = typer.Option("", help="CoT faithfulness battery on the offline states (docs/faithfulness.md): comma-separated "
                              "early, mistake, paraphrase, filler, hint, or all; default none. Early answering uses --fractions."),
    attribution_examples: int = typer.Option(None, min=0, help="Examples for attention and gradient mass (0: skip; default: 20 or --states if fewer)."),
    top_k_percent: float = typer.Option(10.0, help="K of the top-K% attended-positions share."),
    online_episodes: int = typer.Option(0, min=0, help="Online episodes per decoding mode (0: skip)."),
    online_max_steps: int = typer.Option(None, min=1, help="Step limit of online episodes (default: the registration's)."),
    max_new_tokens: int = typer.Option(128, min=1, help="Generation budget per response (tokens)."),
    max_prompt_tokens: int = typer.Option(None, min=1, help="Prompts longer than this keep their last tokens (default: model positions minus --max-new-tokens); use the training length for models trained on truncated prompts."),
    batch_size: int = typer.Option(8, min=1, help="Generation batch size."),
    device: str = typer.Option(None, help="cpu, cuda, ... (default: GPU when present)."),
    seed: int = typer.Option(0, help="Seed of data building, trace choice, bootstrap and the online plan."),
) -> None:
    """Diagnose a model (or each checkpoint of a run): offline and online prompt-vs-CoT actions,
    the CoT faithfulness battery (--tests), conflicting-trace revision, attention and gradient
    mass. Writes OUT/report.json, OUT/report.md and PNG plots. Each finished stage is kept in
    OUT/stages/: rerun the same command after a kill and it resumes at the next stage."""
    import gymnasium as gym

    from cotdiag.agents.hf import HFPolicy
    from cotdiag.diagnostics.outputs import write_plots, write_report
    from cotdiag.diagnostics.report import build_report
    from cotdiag.diagnostics.sweep import list_checkpoints, sweep
    from cotdiag.response.parsing import normalization_for
    from cotdiag.rollout.factory import DecodedEnvFactory

    if policy is None and checkpoints is None:
        raise typer.BadParameter("expected --policy hf:PATH and/or --checkpoints DIR")
    cks: list[tuple[str, int | None, Path]] = []
    if checkpoints is not None:
        cks += [(p.name, n, p) for n, p in list_checkpoints(checkpoints)]
    if policy is not None:
        path = Path(_model_path(policy))
        cks.append((path.name or "model", None, path))
    conflict_states = min(30, states) if conflict_states is None else conflict_states
    attribution_examples = min(20, states) if attribution_examples is None else attribution_examples
    cfg = _config(offline_states=states, conflict_states=conflict_states, fractions=fractions, sources=sources,
                  attribution_examples=attribution_examples, top_k_percent=top_k_percent,
                  online_episodes=online_episodes, seed=seed, faithfulness_tests=tests)
    from cotdiag.response.protocol import load_protocol

    saved = next((p for p in (load_protocol(c[2]) for c in cks if c[2].is_dir()) if p is not None), None)
    st, data_info = _states(env, split, data, data_episodes, seed, saved)
    seen: set[str] = set()
    if exclude_data is not None:
        from datasets import load_from_disk

        seen = set(load_from_disk(str(exclude_data))["task_id"])
        n_before = len(st)
        st = [s for s in st if s["task_id"] not in seen]
        console.print(f"left out {n_before - len(st)} held-out states of {len(seen)} training tasks ({exclude_data})")
    import random

    random.Random(seed).shuffle(st)  # the first N states then sample every episode, not the first one
    if not st:
        raise typer.BadParameter(f"no held-out states (the expert won no episode of {env} {split})")
    console.print(f"{len(st)} held-out states; diagnosing {len(cks)} model(s): {', '.join(c[0] for c in cks)}")
    from cotdiag.baselines.data import DataConfig

    dcfg = DataConfig.from_meta(data_info["meta"].get("config"))
    factory = DecodedEnvFactory(  # online episodes see what the held-out states show: the model's protocol
        env, None, history_window=dcfg.history_window, max_episode_steps=online_max_steps,
        history_keep_first=dcfg.history_keep_first, show_admissible=dcfg.show_admissible,
        history_max_chars=dcfg.history_max_chars, protocol=saved)

    def make_env(mode: str) -> gym.Env:
        return dataclasses.replace(factory, mode=mode)(split=split)

    def load(path: Path) -> HFPolicy:
        return HFPolicy(str(path), seed=seed, max_new_tokens=max_new_tokens, batch_size=batch_size, device=device,
                        max_prompt_tokens=max_prompt_tokens)

    online_task_ids = None
    if seen and online_episodes:
        with gym.make(env, split=split) as probe:
            online_task_ids = [t for t in probe.unwrapped.task_ids if t not in seen]
    meta = _meta(policy=policy, checkpoints=checkpoints, env=env, split=split, seed=seed, cfg=cfg, n_states=len(st),
                 data_info=data_info, exclude_data=exclude_data, n_seen=len(seen), max_new_tokens=max_new_tokens,
                 max_prompt_tokens=max_prompt_tokens, online_max_steps=online_max_steps)
    from cotdiag.diagnostics.report import package_versions
    from cotdiag.diagnostics.stages import StageStore, states_digest

    store = StageStore(out / "stages", {
        **meta, "models": [[c[0], str(c[2])] for c in cks], "states_digest": states_digest(st),
        "batch_size": batch_size, "device": device, "versions": package_versions()})
    results = sweep(
        cks, load, st, cfg, store=store, env_id=env, make_env=make_env if online_episodes else None,
        online_task_ids=online_task_ids, normalize=normalization_for(env), progress=lambda line: console.print(f"  · {line}"),
    )
    report = build_report(meta, results)
    write_report(report, results, out)  # numbers first: a failing plot cannot lose them
    report["plots"] = write_plots(report, out)
    write_report(report, results, out)
    last = report["checkpoints"][-1]
    off = last.get("offline", {})
    console.print(json.dumps({k: round(v["value"], 3) for k, v in off.items() if isinstance(v, dict)}, indent=None))
    console.print(f"report: {out / 'report.md'}  json: {out / 'report.json'}  plots: {', '.join(report['plots'])}")
