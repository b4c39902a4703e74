"""Expert episodes → a saved dataset with its decoding protocol (``cotdiag build-data``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cotdiag.pipelines.ui import LogUI, PipelineUI


def build_data(env: str, split: str | None, out: str | Path, episodes: int, *, traces: str = "templated", seed: int = 0,
               history: str = "conversation", history_window: int | None = 3, history_max_chars: int | None = None,
               show_admissible: bool = False, history_keep_first: bool = True, max_context_tokens: int | None = None,
               ui: PipelineUI | None = None) -> Any:
    """Play the expert, keep the won episodes, save them to ``out``; returns the ``datasets.Dataset``.

    One row per episode (a conversation) with ``history="conversation"``, one per decision state
    with ``"window"`` (see :func:`cotdiag.baselines.data.build_dataset`). ``out`` gets
    ``cotdiag_data.json`` (env, split, episodes, traces, seed, rendering) and the
    :class:`~cotdiag.response.protocol.DecodingProtocol` (``cotdiag_protocol.json``).

    Raises:
        cotdiag.error.InvalidConfigError: an unknown split, history policy or trace source.
    """
    from cotdiag.baselines.data import DataConfig, build_dataset, data_config_dict, save_dataset
    from cotdiag.response.protocol import DecodingProtocol

    ui = ui or LogUI()
    protocol = DecodingProtocol(history=history, window=history_window, keep_first=history_keep_first,
                                show_admissible=show_admissible,
                                **({} if max_context_tokens is None else {"max_context_tokens": max_context_tokens}))
    cfg = DataConfig(history_window=history_window, history_max_chars=history_max_chars,
                     show_admissible=show_admissible, history_keep_first=history_keep_first)
    with ui.progress(f"expert episodes on {env} ({split})", episodes) as update:
        ds = build_dataset(env, split, episodes=episodes, traces=traces, config=cfg, seed=seed,
                           progress=lambda d, n: update(d), protocol=protocol if protocol.conversation else None)
    save_dataset(ds, out, {"env": env, "split": split, "episodes": episodes, "traces": traces, "seed": seed,
                           "config": data_config_dict(cfg), "protocol": protocol.to_dict()})
    protocol.save(out)
    unit = "episodes (one conversation each)" if protocol.conversation else "decision steps"
    ui.say(f"{len(ds)} {unit} from successful episodes -> {out}")
    return ds


@dataclass
class DataJob:
    """``cotdiag build-data``'s options (every field is one): the arguments of :func:`build_data`."""

    out: Path = field(metadata={"help": "Output directory (datasets save_to_disk)."})
    env: str = field(default="CoTDiag-ALFWorld-v0", metadata={"help": "Registered env id."})
    split: str | None = field(default=None, metadata={"help": "Env split (default: the env's default)."})
    episodes: int = field(default=20, metadata={"help": "Expert episodes to play (failures dropped).", "min": 1})
    traces: str = field(default="templated", metadata={
        "help": "'templated', 'search-plan' (ALFWorld: go-to rationales state the expert's search plan, "
                "cotdiag.traces.search_plan) or a FILE.jsonl of {task_id, step, trace}."})
    seed: int = field(default=0, metadata={"help": "Base seed (episode i resets with seed+i)."})
    history: str = field(default="conversation", metadata={
        "help": "History policy: 'conversation' (one chat per episode, one row per episode) or 'window' (one "
                "prompt per state, one row per state).", "choices": ["conversation", "window"]})
    history_window: int = field(default=3, metadata={"help": "'window' policy: past steps shown in prompts (-1: all)."})
    history_max_chars: int | None = field(default=None, metadata={
        "help": "'window' policy: character budget of the history."})
    show_admissible: bool = field(default=False, metadata={"help": "List admissible actions in prompts."})
    history_keep_first: bool = field(default=True, metadata={
        "help": "'window' policy: always show the first observation."})
    max_context_tokens: int | None = field(default=None, metadata={
        "help": "Token budget of the model input (default 2048)."})

    def build(self, ui: PipelineUI | None = None) -> Any:
        """:func:`build_data` with these arguments (``history_window < 0``: the whole history)."""
        return build_data(self.env, self.split, self.out, self.episodes, traces=self.traces, seed=self.seed,
                          history=self.history, history_window=None if self.history_window < 0 else self.history_window,
                          history_max_chars=self.history_max_chars, show_admissible=self.show_admissible,
                          history_keep_first=self.history_keep_first, max_context_tokens=self.max_context_tokens, ui=ui)

