"""``cotdiag diagnose``'s job: held-out states, the models of a run, every registered diagnostic on
each, the report and plots (:mod:`cotdiag.diagnostics`), resumable stage by stage."""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cotdiag.error import InvalidConfigError
from cotdiag.pipelines.ui import LogUI, PipelineUI


@dataclass
class DiagnoseJob:
    """What is diagnosed, on which states, with which generation settings (the measurements
    themselves are a :class:`~cotdiag.diagnostics.sweep.DiagnoseConfig`); ``cotdiag diagnose`` takes
    every field of both as an option.

    Attributes:
        env, split: the env id and the split of the held-out states and online episodes.
        out: the output folder (``report.json``, ``report.md``, PNGs, ``stages/``, ``records/``).
        policy: a final model (folder, hub id or named model), diagnosed after the checkpoints.
        checkpoints: a folder of ``checkpoint-N`` sub-folders, diagnosed in order of N.
        data: a saved dataset of held-out states (``build-data``); default: built from expert episodes.
        exclude_data: a training dataset whose task ids are left out of the states and online episodes.
        data_episodes: expert episodes played to build the states when ``data`` is not given.
        online_max_steps: step limit of online episodes (``None``: the registration's).
        max_new_tokens, max_prompt_tokens, batch_size, device: generation settings of ``HFPolicy``.
        seed: seed of data building, the state shuffle, trace choice, bootstrap and the online plan.
    """

    env: str = field(default="CoTDiag-ALFWorld-v0", metadata={"help": "Registered env id."})
    split: str | None = field(default="valid_seen", metadata={
        "help": "Env split of the held-out states and online episodes."})
    out: Path = field(default=Path("runs/diagnose"), metadata={"help": "Output folder (report.json, report.md, PNGs)."})
    policy: str | None = field(default=None, metadata={
        "help": "Model to diagnose: hf:PATH (a final model; with --checkpoints it is added last)."})
    checkpoints: Path | None = field(default=None, metadata={
        "help": "Folder of checkpoint-N sub-folders, diagnosed in order of N."})
    data: Path | None = field(default=None, metadata={
        "help": "Saved dataset of held-out states (cotdiag build-data); default: build it."})
    exclude_data: Path | None = field(default=None, metadata={
        "help": "Training dataset (cotdiag build-data): its task ids are left out of the held-out states and "
                "the online plan."})
    data_episodes: int = field(default=5, metadata={
        "help": "Expert episodes played to build the states when --data is not given.", "min": 1})
    online_max_steps: int | None = field(default=None, metadata={
        "help": "Step limit of online episodes (default: the registration's).", "min": 1})
    max_new_tokens: int = field(default=128, metadata={"help": "Generation budget per response (tokens).", "min": 1})
    max_prompt_tokens: int | None = field(default=None, metadata={
        "help": "Prompts longer than this keep their last tokens (default: model positions minus "
                "--max_new_tokens); use the training length for models trained on truncated prompts.", "min": 1})
    batch_size: int = field(default=8, metadata={"help": "Generation batch size.", "min": 1})
    device: str | None = field(default=None, metadata={"help": "cpu, cuda, ... (default: GPU when present)."})
    seed: int = field(default=0, metadata={
        "help": "Seed of data building, the state shuffle, trace choice, bootstrap and the online plan."})

    def models(self) -> list[tuple[str, int | None, Path]]:
        """``(name, step, path)`` of the checkpoints in training order, then the final model.

        Raises:
            InvalidConfigError: neither ``policy`` nor ``checkpoints`` is given.
            cotdiag.error.DataNotFoundError: ``checkpoints`` holds no ``checkpoint-N`` folder.
        """
        from cotdiag.diagnostics.sweep import list_checkpoints

        if self.policy is None and self.checkpoints is None:
            raise InvalidConfigError("expected a policy (hf:PATH) and/or a checkpoints folder")
        cks = [(p.name, n, p) for n, p in list_checkpoints(self.checkpoints)] if self.checkpoints is not None else []
        if self.policy is not None:
            path = Path(self.policy)
            cks.append((path.name or "model", None, path))
        return cks


def held_out_states(env: str, split: str | None, data: Path | None, episodes: int, seed: int,
                    protocol: Any = None, ui: PipelineUI | None = None) -> tuple[list[dict], dict]:
    """Held-out decision states and where they come from: the rows of ``data``, else of expert
    episodes rendered with the model's ``protocol``; conversation rows become one state per decision,
    each carrying its turns (:func:`cotdiag.baselines.conversation.conversation_states`).

    Returns:
        ``(states, {"source": str, "meta": {"config": ..., "protocol": ...}})``.

    Raises:
        InvalidConfigError: ``data`` was rendered with another protocol than ``protocol``
            (:func:`cotdiag.response.protocol.rendering_differences`).
    """
    from cotdiag.baselines.conversation import conversation_states
    from cotdiag.baselines.data import DataConfig, build_dataset, data_config_dict, load_data_meta

    if data is not None:
        from datasets import load_from_disk

        from cotdiag.response.protocol import load_protocol, rendering_differences

        diff = rendering_differences(load_protocol(data), protocol) if protocol is not None else []
        if diff:
            raise InvalidConfigError(f"held-out data {data} was rendered with another decoding protocol than the "
                                     f"checkpoints' ({', '.join(diff)} differ): rebuild it with the checkpoints' "
                                     "protocol (cotdiag_protocol.json) or leave out --data")
        ds = load_from_disk(str(data))
        rows = [dict(r) for r in ds]
        states = conversation_states(rows) if "messages" in ds.column_names else rows
        return states, {"source": str(data), "meta": load_data_meta(data)}
    (ui or LogUI()).say(f"building held-out expert states: {episodes} expert episodes of {env} ({split})")
    ds = build_dataset(env, split, episodes=episodes, seed=seed, protocol=protocol)
    window = protocol is not None and not protocol.conversation
    meta = {"config": data_config_dict(DataConfig.from_protocol(protocol) if window else DataConfig()),
            "protocol": protocol.to_dict() if protocol else None}
    rows = [dict(r) for r in ds]
    states = conversation_states(rows) if "messages" in ds.column_names else rows
    return states, {"source": f"build_dataset(episodes={episodes}, seed={seed})", "meta": meta}


def _meta(job: DiagnoseJob, cfg: Any, n_states: int, data_info: dict, n_seen: int) -> dict[str, Any]:
    """The report's ``meta``: what was diagnosed, on which states, with which settings."""
    from cotdiag.diagnostics.sweep import config_dict

    return {
        "model": job.policy or f"checkpoints of {job.checkpoints}",
        "checkpoints_dir": str(job.checkpoints) if job.checkpoints else None, "env_id": job.env,
        "split": job.split, "seed": job.seed, "config": config_dict(cfg),
        "data": {"n_states": n_states, "source": data_info["source"], "config": data_info["meta"].get("config"),
                 "excluded_training_data": str(job.exclude_data) if job.exclude_data else None,
                 "excluded_training_tasks": n_seen},
        "generation": {"max_new_tokens": job.max_new_tokens, "max_prompt_tokens": job.max_prompt_tokens, "greedy": True},
        "online_max_steps": job.online_max_steps,
    }


def run_diagnose(job: DiagnoseJob, cfg: Any, ui: PipelineUI | None = None) -> dict[str, Any]:
    """Diagnose every model of ``job`` with every registered diagnostic; write the report and plots.

    Each finished stage is kept under ``job.out/stages/`` (:class:`~cotdiag.diagnostics.stages.StageStore`):
    rerun the same job after a kill and it resumes at the next stage; another configuration in the
    same folder is refused.

    Returns:
        The report dict (``report.json``'s content, with ``plots``).

    Raises:
        InvalidConfigError: no model, or no held-out state left.
        cotdiag.error.ResultsMismatchError: ``job.out`` holds stages of another configuration.
    """
    import gymnasium as gym

    from cotdiag.agents.hf import HFPolicy
    from cotdiag.baselines.data import DataConfig
    from cotdiag.diagnostics.outputs import write_plots, write_report
    from cotdiag.diagnostics.report import build_report, package_versions
    from cotdiag.diagnostics.stages import StageStore, states_digest
    from cotdiag.diagnostics.sweep import sweep
    from cotdiag.response.parsing import normalization_for
    from cotdiag.response.protocol import load_protocol
    from cotdiag.rollout.factory import DecodedEnvFactory

    ui = ui or LogUI()
    cks = job.models()
    saved = next((p for p in (load_protocol(c[2]) for c in cks if c[2].is_dir()) if p is not None), None)
    st, data_info = held_out_states(job.env, job.split, job.data, job.data_episodes, job.seed, saved, ui)
    seen: set[str] = set()
    if job.exclude_data is not None:
        from datasets import load_from_disk

        seen = set(load_from_disk(str(job.exclude_data))["task_id"])
        n_before = len(st)
        st = [s for s in st if s["task_id"] not in seen]
        ui.say(f"left out {n_before - len(st)} held-out states of {len(seen)} training tasks ({job.exclude_data})")
    random.Random(job.seed).shuffle(st)  # the first N states then sample every episode, not the first one
    if not st:
        raise InvalidConfigError(f"no held-out states (the expert won no episode of {job.env} {job.split})")
    ui.say(f"{len(st)} held-out states; diagnosing {len(cks)} model(s): {', '.join(c[0] for c in cks)}")
    dcfg = DataConfig.from_meta(data_info["meta"].get("config"))
    factory = DecodedEnvFactory(  # online episodes see what the held-out states show: the model's protocol
        job.env, None, history_window=dcfg.history_window, max_episode_steps=job.online_max_steps,
        history_keep_first=dcfg.history_keep_first, show_admissible=dcfg.show_admissible,
        history_max_chars=dcfg.history_max_chars, protocol=saved)
    online_task_ids = None
    if seen and cfg.online_episodes:
        with gym.make(job.env, split=job.split) as probe:
            online_task_ids = [t for t in probe.unwrapped.task_ids if t not in seen]
    meta = _meta(job, cfg, len(st), data_info, len(seen))
    store = StageStore(job.out / "stages", {
        **meta, "models": [[c[0], str(c[2])] for c in cks], "states_digest": states_digest(st),
        "batch_size": job.batch_size, "device": job.device, "versions": package_versions()})
    results = sweep(
        cks, lambda path: HFPolicy(str(path), seed=job.seed, max_new_tokens=job.max_new_tokens,
                                   batch_size=job.batch_size, device=job.device, max_prompt_tokens=job.max_prompt_tokens),
        st, cfg, store=store, env_id=job.env,
        make_env=(lambda mode: dataclasses.replace(factory, mode=mode)(split=job.split)) if cfg.online_episodes else None,
        online_task_ids=online_task_ids, normalize=normalization_for(job.env), progress=lambda line: ui.say(f"  · {line}"))
    report = build_report(meta, results)
    write_report(report, results, job.out)  # numbers first: a failing plot cannot lose them
    report["plots"] = write_plots(report, job.out)
    write_report(report, results, job.out)
    return report
