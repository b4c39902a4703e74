"""Expert episodes → a saved dataset with its decoding protocol (``cotdiag build-data``)."""

from __future__ import annotations

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
