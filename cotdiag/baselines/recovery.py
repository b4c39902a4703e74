"""Recovery turns: expert conversations with a failed action and the env's feedback before some decisions.

An SFT agent only ever sees expert states, so its first mistake puts it where it was never trained,
and it keeps going: the SmolLM2 agent of docs/baselines.md, after visiting the room's last drawer,
walks ``go to drawer 6``, ``go to drawer 7``, ... to the step limit. This module adds the states it
reaches after such a mistake to the training conversations, in the spirit of noise injection into
expert demonstrations (DART, Laskey et al. 2017, arXiv 1703.09327; here the noise is an
inadmissible action, which leaves the state unchanged, so the expert's next action stays correct
without rerunning the simulator).

Before a chosen decision ``i`` of an expert episode, :func:`with_recovery_turns` inserts

* an assistant turn with a *failed action*: an action not admissible at state ``i`` that the
  agent's own mistakes look like (:func:`failed_action`: the previous action with its only number
  raised by one, ``go to drawer 5`` → ``go to drawer 6``; else the previous action repeated),
  with a templated rationale for it in CoT mode. It carries ``"train": False``: no loss, the model
  is not taught to make the mistake;
* a user turn with the env's feedback to an inadmissible action (``TextEnv.invalid_action_feedback``,
  ALFWorld: ``Nothing happens.``), rendered as the decoding protocol renders observations;

then the expert's turn ``i`` as before, trained: after a failure, do what the expert does from the
unchanged state. The dataset rows are not changed; the turns are added when ``train sft
--recovery_rate R`` tokenizes them (seeded, reproducible).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from cotdiag.error import InvalidConfigError
from cotdiag.response.format import DEFAULT_FORMAT, ResponseFormat
from cotdiag.response.protocol import observation_turn
from cotdiag.traces import TraceContext
from cotdiag.traces.templates import templates_for

_NUMBERED = re.compile(r"(?P<head>\D*\D)(?P<n>\d+)")  # one number, at the end: "go to drawer 5"


def failed_action(previous: str | None, action: str, admissible: Sequence[str]) -> str | None:
    """An inadmissible action like the agent's mistakes at a state, or ``None`` when there is none.

    Args:
        previous: the action taken before this state (``None`` at the first decision).
        action: the expert's action at this state (never returned).
        admissible: the admissible actions at this state (an empty list: not enumerable, ``None`` returned).

    Returns:
        ``previous`` with its number raised by one when it ends in its only number (``go to drawer 5``
        → ``go to drawer 6``, ``open drawer 5`` → ``open drawer 6``) and that is not admissible; else ``previous`` itself when it is not admissible any more
        (``take apple 1 from table 1`` after taking it, ``go to desk 1`` when already there); else
        ``None``.
    """
    if not previous or not admissible:
        return None
    allowed = set(admissible) | {action}
    m = _NUMBERED.fullmatch(previous)
    if m:
        overshoot = f"{m['head']}{int(m['n']) + 1}"
        if overshoot not in allowed:
            return overshoot
    return previous if previous not in allowed else None


def invalid_action_feedback(env_id: str) -> str:
    """The observation ``env_id`` returns for an inadmissible action (its class's ``invalid_action_feedback``).

    Raises:
        InvalidConfigError: the env class declares none (recovery turns need it).
    """
    from cotdiag.envs import env_class

    feedback = getattr(env_class(env_id), "invalid_action_feedback", None)
    if not feedback:
        raise InvalidConfigError(f"{env_id or 'this dataset'} declares no invalid_action_feedback, so recovery turns "
                                 "cannot be built for it (set it on the env class, e.g. ALFWorld's 'Nothing happens.')")
    return str(feedback)


def with_recovery_turns(row: dict[str, Any], mode: str, rate: float, rng: np.random.Generator, *,
                        show_admissible: bool = False, fmt: ResponseFormat = DEFAULT_FORMAT) -> list[dict[str, Any]]:
    """The row's conversation in ``mode`` with a failed action and its feedback before some decisions.

    Args:
        row: a conversation row (:data:`cotdiag.baselines.data.CONVERSATION_COLUMNS`: ``messages``,
            ``messages_prompt_mode``, ``actions``, ``env``, ``admissible_actions``).
        mode: ``"cot"`` or ``"prompt"``.
        rate: probability in ``[0, 1]`` that a decision with a :func:`failed_action` gets one.
        rng: draws the decisions (one draw per decision after the first, whether or not it has a
            failed action, so the draws do not depend on the mode).
        show_admissible: the protocol lists admissible actions in user turns (the feedback turn then
            lists the unchanged state's).
        fmt: the response tags.

    Returns:
        The messages, each inserted assistant turn with ``"train": False`` (the expert turns keep
        no such key). ``rate`` 0 returns the row's messages unchanged.

    Raises:
        InvalidConfigError: ``rate`` outside ``[0, 1]``, or the row's env declares no feedback.
    """
    if not 0.0 <= rate <= 1.0:
        raise InvalidConfigError(f"expected recovery_rate in [0, 1], got {rate!r}")
    messages = list(row["messages"] if mode == "cot" else row["messages_prompt_mode"])
    if rate == 0.0:
        return messages
    actions = list(row["actions"])
    draws = rng.random(max(0, len(actions) - 1))
    feedback = invalid_action_feedback(str(row.get("env", "")))
    admissible = row.get("admissible_actions") or [[] for _ in actions]
    source = templates_for(str(row.get("env", ""))) if mode == "cot" else None
    out = messages[:3]  # system, first observation, first expert turn
    for i in range(1, len(actions)):
        wrong = failed_action(actions[i - 1], actions[i], admissible[i] or [])
        user, expert = messages[1 + 2 * i], messages[2 + 2 * i]
        out.append(user)
        if wrong is not None and draws[i - 1] < rate:
            if source is not None:
                ctx = TraceContext(task=str(messages[1]["content"]), past_actions=tuple(actions[:i]))
                said = fmt.cot_response(source(ctx, wrong, rng) or "I will try this next.", wrong)
            else:
                said = fmt.action_open + fmt.prompt_response(wrong)
            shown = list(admissible[i]) if show_admissible else None
            out += [{"role": "assistant", "content": said, "train": False},
                    {"role": "user", "content": observation_turn(feedback, shown)}]
        out.append(expert)
    return out
