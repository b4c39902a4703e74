"""Expert datasets with CoT: one row per decision step of successful expert episodes.

:func:`build_dataset` plays the env's expert (``info["expert_action"]``), keeps the episodes it wins
(the study trains on successful teacher trajectories only), and writes one row per decision step.
Prompts are rendered by :func:`cotdiag.response.render_prompt`, the renderer the
:class:`~cotdiag.wrappers.DecodingModeWrapper` uses at inference, with the same
:class:`~cotdiag.response.HistoryConfig` and ``show_admissible`` recorded in the dataset's
``cotdiag_data.json``; a policy evaluated through the wrapper with those settings sees training
prompts byte for byte.

Columns (``datasets.Dataset``):

==========================  ================================================================
``prompt``                  ``str``, the CoT-mode prompt of the state
``prompt_for_prompt_mode``  ``str``, the same state rendered with the prompt-mode instructions
``trace``                   ``str``, reasoning for the expert action (templated or imported)
``action``                  ``str``, the expert action
``env``                     ``str``, the env id
``task_id`` / ``task_type`` ``str``
``step``                    ``int``, actions taken before this state (0 at reset)
``seed``                    ``int``, the episode's reset seed (with ``actions_before``: replay)
``actions_before``          ``list[str]``, the expert actions that led to this state
``admissible_actions``      ``list[str]`` (empty when the env cannot enumerate them)
==========================  ================================================================
"""

from __future__ import annotations

import json
import logging
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cotdiag.error import DataNotFoundError, InvalidConfigError
from cotdiag.response.prompt import HistoryConfig, HistoryStep, render_prompt
from cotdiag.response.protocol import DecodingProtocol

if TYPE_CHECKING:
    import gymnasium as gym
    from datasets import Dataset

logger = logging.getLogger(__name__)

#: ``trace_fn(state) -> str``; ``state`` has ``task``, ``observation``, ``action``, ``history``
#: (``list[HistoryStep]``), ``admissible_actions``, ``task_id``, ``task_type``, ``step``, ``info``.
TraceFn = Callable[[dict[str, Any]], str]


@dataclass
class DataConfig:
    """How :func:`build_dataset` renders prompts (must match the inference wrapper's settings)."""

    history_window: int | None = field(default=None, metadata={"help": "Past steps shown (None: all)."})
    history_max_chars: int | None = field(default=None, metadata={"help": "Character budget of the history."})
    history_reasoning: str = field(default="strip", metadata={"help": "Past reasoning: 'strip' or 'keep'."})
    history_keep_first: bool = field(
        default=True, metadata={"help": "Always show the episode's first observation (step 1) before the window."})
    show_admissible: bool = field(default=False, metadata={"help": "List the admissible actions in the prompt."})

    @property
    def history(self) -> HistoryConfig:
        """The :class:`~cotdiag.response.HistoryConfig` to pass to the decoding wrapper."""
        return HistoryConfig(window=self.history_window, max_chars=self.history_max_chars,
                             reasoning=self.history_reasoning, keep_first=self.history_keep_first)

    @classmethod
    def from_protocol(cls, protocol: DecodingProtocol) -> DataConfig:
        """The per-state rendering of a ``"window"`` protocol."""
        return cls(history_window=protocol.window, history_keep_first=protocol.keep_first,
                   show_admissible=protocol.show_admissible)

    @classmethod
    def from_meta(cls, config: dict[str, Any] | None) -> DataConfig:
        """The config recorded in a dataset's ``cotdiag_data.json``. Datasets written before
        ``history_keep_first`` existed were rendered without it (``False``)."""
        return cls(**{"history_keep_first": False, **(config or {})})


def load_jsonl_traces(path: str | Path) -> TraceFn:
    """A trace function reading a user JSONL file.

    Each line is ``{"task_id": str, "step": int, "trace": str}`` (an ``"action"`` key, when present,
    must equal the expert action of that state). States without a line get no trace and are
    dropped by :func:`build_dataset` (their count is logged).

    Raises:
        DataNotFoundError: the file does not exist.
        InvalidConfigError: a line lacks a key or is not JSON.
    """
    p = Path(path)
    if not p.is_file():
        raise DataNotFoundError(f"trace file {p} does not exist")
    table: dict[tuple[str, int], dict[str, Any]] = {}
    for n, line in enumerate(p.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            table[(str(row["task_id"]), int(row["step"]))] = row
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
            raise InvalidConfigError(f"{p}:{n}: expected a JSON object with task_id, step, trace; got {line[:80]!r}") from e

    def trace_fn(state: dict[str, Any]) -> str:
        row = table.get((state["task_id"], state["step"]))
        if row is None:
            return ""
        if "action" in row and row["action"] != state["action"]:
            logger.warning("trace for %s step %d argues for %r, expert action is %r; dropped",
                           state["task_id"], state["step"], row["action"], state["action"])
            return ""
        return str(row["trace"])

    return trace_fn


def templated_traces(env_id: str, seed: int = 0, family: Any = None) -> TraceFn:
    """The templated source of :mod:`cotdiag.traces` for ``env_id`` as a :data:`TraceFn`.

    Template choice is seeded per state (``crc32(task_id) + step + seed``), so rebuilding a dataset
    gives the same traces. ``family`` replaces the env's template family
    (:class:`~cotdiag.traces.TemplateTraceSource`'s ``family``).
    """
    import numpy as np

    from cotdiag.traces import TemplateTraceSource, TraceContext

    source = TemplateTraceSource(env_id, family=family)

    def trace_fn(state: dict[str, Any]) -> str:
        ctx = TraceContext.from_info(state["info"], state["observation"], [h.action for h in state["history"]],
                                     [h.observation for h in state["history"]])
        rng = np.random.default_rng(zlib.crc32(state["task_id"].encode()) + state["step"] + seed)
        return source(ctx, state["action"], rng) or ""

    return trace_fn


#: Named trace sources of :func:`resolve_traces` (besides a ``FILE.jsonl``).
TRACE_NAMES: tuple[str, ...] = ("templated", "search-plan")


def resolve_traces(traces: str | TraceFn, env_id: str) -> TraceFn:
    """``"templated"``, ``"search-plan"`` (ALFWorld only: :mod:`cotdiag.traces.search_plan`), a
    ``.jsonl`` path, or a callable -> a :data:`TraceFn`.

    Raises:
        InvalidConfigError: a string that is none of these, or ``"search-plan"`` for another env.
    """
    if callable(traces):
        return traces
    if traces == "templated":
        return templated_traces(env_id)
    if traces == "search-plan":
        if "ALFWorld" not in env_id:
            raise InvalidConfigError(f"traces 'search-plan' are written for ALFWorld, got env {env_id!r}")
        from cotdiag.traces.search_plan import ALFWorldSearchPlanTraces

        return templated_traces(env_id, family=ALFWorldSearchPlanTraces())
    if str(traces).endswith(".jsonl"):
        return load_jsonl_traces(traces)
    raise InvalidConfigError(f"expected traces in {list(TRACE_NAMES)}, a FILE.jsonl or a callable, got {traces!r}")


def expert_episode(env: gym.Env, task_id: str, seed: int, max_steps: int = 200) -> tuple[bool, list[dict[str, Any]]]:
    """Play the expert on one task; return ``(won, states)``.

    Each state is ``{"observation", "info", "action"}`` for one decision (the state before the
    expert acts). The episode stops when the env terminates or truncates, when no expert action is
    known, or after ``max_steps``.
    """
    obs, info = env.reset(seed=seed, options={"task_id": task_id})
    states: list[dict[str, Any]] = []
    won = False
    for _ in range(max_steps):
        action = info.get("expert_action")
        if action is None:
            break
        states.append({"observation": obs, "info": info, "action": str(action)})
        obs, _r, terminated, truncated, info = env.step(str(action))
        won = bool(info.get("won", False))
        if terminated or truncated:
            break
    return won, states


def build_dataset(
    env_id: str,
    split: str | None = None,
    *,
    episodes: int = 10,
    traces: str | TraceFn = "templated",
    config: DataConfig | None = None,
    seed: int = 0,
    env_kwargs: dict[str, Any] | None = None,
    make_env: Callable[..., gym.Env] | None = None,
    progress: Callable[[int, int], None] | None = None,
    protocol: DecodingProtocol | None = None,
) -> Dataset:
    """Run the expert on ``episodes`` episodes of ``env_id`` and return the successful steps.

    Episode ``i`` plays task ``perm[i % n_tasks]`` with ``reset(seed=seed + i)``, the plan of
    :func:`cotdiag.rollout.episode_plan`, so a dataset covers the split before repeating a task.

    Args:
        env_id: registered env id (any CoTDiag env with an expert).
        split: env split (``None``: the env's default).
        episodes: expert episodes to play (failed ones are dropped).
        traces: ``"templated"``, a ``FILE.jsonl`` (see :func:`load_jsonl_traces`) or a
            :data:`TraceFn`. States whose trace is empty are dropped.
        config: prompt rendering (history, admissible actions).
        seed: base seed.
        env_kwargs: extra env constructor kwargs.
        make_env: ``make_env(**kwargs) -> env`` instead of ``gym.make(env_id, **kwargs)``.
        progress: ``progress(done, total)`` after each episode.
        protocol: with a ``"conversation"`` protocol, one row per won episode with the columns of
            :data:`CONVERSATION_COLUMNS` (``config`` is then ignored); with a ``"window"`` protocol,
            ``config = DataConfig.from_protocol(protocol)``.

    Returns:
        A ``datasets.Dataset`` with the columns of the module docstring (possibly empty).

    Raises:
        InvalidConfigError: ``episodes < 1`` or a bad ``traces`` value.
    """
    import gymnasium as gym
    from datasets import Dataset

    from cotdiag.rollout import episode_plan

    if episodes < 1:
        raise InvalidConfigError(f"expected episodes >= 1, got {episodes}")
    conversation = protocol is not None and protocol.conversation
    if protocol is not None and not conversation:
        config = DataConfig.from_protocol(protocol)
    config = config or DataConfig()
    trace_fn = resolve_traces(traces, env_id)
    kwargs = dict(env_kwargs or {})
    if split is not None:
        kwargs["split"] = split
    env = (make_env or (lambda **kw: gym.make(env_id, **kw)))(**kwargs)
    rows: list[dict[str, Any]] = []
    won_episodes, dropped = 0, 0
    try:
        plan = episode_plan(list(env.unwrapped.task_ids), episodes, seed)
        for done, (_i, task_id, ep_seed) in enumerate(plan, 1):
            won, states = expert_episode(env, task_id, ep_seed)
            if won and conversation:
                won_episodes += 1
                dropped += _add_conversation(rows, states, env_id, ep_seed, trace_fn, protocol)
            elif won:
                won_episodes += 1
                dropped += _add_rows(rows, states, env_id, ep_seed, trace_fn, config)
            if progress:
                progress(done, episodes)
    finally:
        env.close()
    logger.info("%d/%d expert episodes won, %d rows, %d states dropped (no trace)",
                won_episodes, episodes, len(rows), dropped)
    if conversation:
        return Dataset.from_dict({c: [r[c] for r in rows] for c in CONVERSATION_COLUMNS})
    columns = ("prompt", "prompt_for_prompt_mode", "trace", "action", "env", "task_id", "task_type", "step",
               "seed", "actions_before", "admissible_actions")
    return Dataset.from_dict({c: [r[c] for r in rows] for c in columns})


#: Columns of a conversation dataset (one row per won expert episode).
CONVERSATION_COLUMNS: tuple[str, ...] = ("messages", "messages_prompt_mode", "actions", "traces", "env", "task_id",
                                         "task_type", "seed", "steps", "admissible_actions")


def _add_conversation(rows: list[dict[str, Any]], states: list[dict[str, Any]], env_id: str, ep_seed: int,
                      trace_fn: TraceFn, protocol: DecodingProtocol) -> int:
    """Append one conversation row; returns the number of states dropped (all of them when one has no trace)."""
    from cotdiag.baselines.conversation import expert_conversation

    history: list[HistoryStep] = []
    traces: list[str] = []
    for s in states:
        info = s["info"]
        state = {
            "task": str(info.get("task", "")), "observation": s["observation"], "action": s["action"],
            "history": list(history), "admissible_actions": info.get("admissible_actions"),
            "task_id": str(info["task_id"]), "task_type": str(info.get("task_type", "")),
            "step": int(info.get("step", len(history))), "info": info, "env": env_id,
        }
        traces.append(trace_fn(state))
        history.append(HistoryStep(s["observation"], s["action"], traces[-1] or None))
    if not states or not all(traces):
        return len(states)
    info = states[0]["info"]
    rows.append({
        "messages": expert_conversation(states, traces, "cot", protocol),
        "messages_prompt_mode": expert_conversation(states, traces, "prompt", protocol),
        "actions": [s["action"] for s in states], "traces": traces, "env": env_id,
        "task_id": str(info["task_id"]), "task_type": str(info.get("task_type", "")), "seed": ep_seed,
        "steps": len(states), "admissible_actions": [list(s["info"].get("admissible_actions") or []) for s in states],
    })
    return 0


def _add_rows(rows: list[dict[str, Any]], states: list[dict[str, Any]], env_id: str, ep_seed: int,
              trace_fn: TraceFn, config: DataConfig) -> int:
    history: list[HistoryStep] = []
    dropped = 0
    hist_cfg = config.history
    for s in states:
        info = s["info"]
        adm = info.get("admissible_actions")
        shown_adm = adm if config.show_admissible else None
        state = {
            "task": str(info.get("task", "")), "observation": s["observation"], "action": s["action"],
            "history": list(history), "admissible_actions": adm, "task_id": str(info["task_id"]),
            "task_type": str(info.get("task_type", "")), "step": int(info.get("step", len(history))),
            "info": info, "env": env_id,
        }
        trace = trace_fn(state)
        if trace:
            common = dict(history=history, admissible_actions=shown_adm, config=hist_cfg)
            rows.append({
                "prompt": render_prompt(state["task"], s["observation"], mode="cot", **common),
                "prompt_for_prompt_mode": render_prompt(state["task"], s["observation"], mode="prompt", **common),
                "trace": trace, "action": s["action"], "env": env_id, "task_id": state["task_id"],
                "task_type": state["task_type"], "step": state["step"], "seed": ep_seed,
                "actions_before": [h.action for h in history], "admissible_actions": list(adm or []),
            })
        else:
            dropped += 1
        history.append(HistoryStep(s["observation"], s["action"], trace or None))
    return dropped


def save_dataset(ds: Dataset, out_dir: str | Path, meta: dict[str, Any]) -> Path:
    """``ds.save_to_disk(out_dir)`` plus ``out_dir/cotdiag_data.json`` (``meta``: env, split, config)."""
    out = Path(out_dir)
    ds.save_to_disk(str(out))
    (out / "cotdiag_data.json").write_text(json.dumps(meta, indent=2, default=str) + "\n")
    return out


def load_data_meta(data_dir: str | Path) -> dict[str, Any]:
    """The ``cotdiag_data.json`` of a saved dataset (``{}`` when absent)."""
    p = Path(data_dir) / "cotdiag_data.json"
    return json.loads(p.read_text()) if p.is_file() else {}


def data_config_dict(config: DataConfig) -> dict[str, Any]:
    """``config`` as a JSON-ready dict."""
    return asdict(config)
