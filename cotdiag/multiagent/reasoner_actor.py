"""A PettingZoo reasoner–actor game over any CoTDiag text env.

Two agents share one decision state: the ``reasoner`` writes a reasoning trace for the current
prompt, the ``actor`` sees prompt + trace and completes the action. The actor's parsed action is the
only thing that reaches the env.

* ``cooperative``: both agents receive the env reward.
* ``adversarial``: the actor receives the env reward; the reasoner receives ``1.0`` when the actor's
  action differs from ``info["expert_action"]`` (where one is known), else ``0.0``, so a reasoner
  can be trained as a trace attacker for the conflicting-trace test.

:class:`ReasonerActorEnv` is the AEC form (turns alternate reasoner, actor, reasoner, ...);
:class:`ReasonerActorParallelEnv` is the parallel form, where every parallel step is one phase
(``"reason"``: only the reasoner's action is used; ``"act"``: only the actor's), announced in
``infos[agent]["phase"]``: the actor must see the trace of the same state, so the two cannot act
simultaneously.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from pettingzoo import AECEnv, ParallelEnv
from pettingzoo.utils import AgentSelector

from cotdiag.envs.spaces import UnicodeText
from cotdiag.error import InvalidConfigError
from cotdiag.response.format import DEFAULT_FORMAT, ResponseFormat
from cotdiag.response.parsing import normalization_for, parse_response
from cotdiag.response.prompt import render_prompt

AGENTS = ("reasoner", "actor")


class TextObservation(str):
    """A ``str`` that carries the ``dtype`` of text spaces (``numpy.dtype(str)``).

    PettingZoo's ``api_test`` compares ``observation.dtype`` with ``observation_space.dtype``, as it
    would for numpy arrays; text observations declare the dtype of Gymnasium's ``Text`` space.
    Everything else behaves as ``str``.
    """

    dtype = np.dtype(str)

INCENTIVES = ("cooperative", "adversarial")


class _Game:
    """The shared state machine of both forms."""

    def __init__(self, env: gym.Env, incentive: str, fmt: ResponseFormat, max_text_length: int,
                 max_action_length: int) -> None:
        if incentive not in INCENTIVES:
            raise InvalidConfigError(f"expected incentive in {list(INCENTIVES)}, got {incentive!r}")
        self.env, self.incentive, self.fmt = env, incentive, fmt
        self.norm = normalization_for(env)
        # the actor's view is the prompt (<= max_text_length) + a trace (<= max_action_length) + tags
        self.obs_space = UnicodeText(max_text_length + max_action_length + len("".join(fmt.special_tokens)) + 2)
        self.act_space = UnicodeText(max_action_length)
        self.obs, self.info, self.trace = "", {}, ""

    def reset(self, seed: int | None, options: dict[str, Any] | None) -> None:
        self.obs, self.info = self.env.reset(seed=seed, options=options)
        self.trace = ""

    def prompt(self) -> TextObservation:
        return TextObservation(render_prompt(str(self.info.get("task", "")), self.obs, mode="cot", fmt=self.fmt))

    def actor_view(self) -> TextObservation:
        f = self.fmt
        return TextObservation(f"{self.prompt()}\n\n{f.think_open}{self.trace}{f.think_close}{f.action_open}")

    def act(self, completion: str) -> tuple[dict[str, float], bool, bool, dict[str, Any]]:
        res = parse_response(completion, mode="prompt", fmt=self.fmt, normalization=self.norm)
        action = res.action or ""
        expert = self.info.get("expert_action")
        self.obs, reward, term, trunc, self.info = self.env.step(action)
        left = expert is not None and action != expert
        rewards = {"actor": float(reward)}
        rewards["reasoner"] = float(reward) if self.incentive == "cooperative" else float(left)
        extra = {"action": action, "parse_status": res.status, "expert_action_before": expert,
                 "left_expert": left if expert is not None else None, "trace": self.trace}
        self.trace = ""
        return rewards, bool(term), bool(trunc), extra

    def infos(self, phase: str, extra: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
        base = {"phase": phase, "task": self.info.get("task", ""), "expert_action": self.info.get("expert_action"),
                "won": self.info.get("won", False), **(extra or {})}
        return {a: dict(base) for a in AGENTS}


class ReasonerActorEnv(AECEnv):
    """AEC reasoner–actor game over ``env`` (a CoTDiag text env, e.g. ``gym.make("CoTDiag-ALFWorld-v0")``).

    Args:
        env: the text env (observations and actions are ``str``; ``info`` follows the contract).
        incentive: ``"cooperative"`` or ``"adversarial"``: how the reasoner is rewarded (see the
            module docstring; not to be confused with the decoding mode, prompt or CoT).
        fmt: the response tags.
        max_text_length: longest prompt (characters); the observation spaces allow this plus a trace.
        max_action_length: ``max_length`` of both action spaces (characters); longer traces are cut.

    Observations: the reasoner sees the CoT prompt (:func:`cotdiag.response.prompt.render_prompt`);
    the actor sees that prompt followed by ``<think>{trace}</think><action>``.
    Actions: the reasoner's is the trace text; the actor's is its completion ``ACTION</action>``,
    parsed in prompt mode (a format error sends the best-effort action, ``""`` when none).

    Raises:
        cotdiag.error.InvalidConfigError: unknown ``incentive``.
    """

    metadata = {"name": "cotdiag_reasoner_actor_v0", "render_modes": ["ansi"], "is_parallelizable": False}

    def __init__(self, env: gym.Env, incentive: str = "cooperative", *, fmt: ResponseFormat = DEFAULT_FORMAT,
                 max_text_length: int = 1_000_000, max_action_length: int = 32_768,
                 render_mode: str | None = None) -> None:
        super().__init__()
        self.game = _Game(env, incentive, fmt, max_text_length, max_action_length)
        self.possible_agents = list(AGENTS)
        self.render_mode = render_mode

    def observation_space(self, agent: str) -> UnicodeText:
        return self.game.obs_space

    def action_space(self, agent: str) -> UnicodeText:
        return self.game.act_space

    def observe(self, agent: str) -> str:
        return self.game.actor_view() if agent == "actor" else self.game.prompt()

    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None) -> None:
        self.game.reset(seed, options)
        self.agents = list(self.possible_agents)
        self.rewards = {a: 0.0 for a in self.agents}
        self._cumulative_rewards = {a: 0.0 for a in self.agents}
        self.terminations = {a: False for a in self.agents}
        self.truncations = {a: False for a in self.agents}
        self.infos = self.game.infos("reason")
        self._selector = AgentSelector(self.agents)
        self.agent_selection = self._selector.reset()

    def step(self, action: str | None) -> None:
        agent = self.agent_selection
        if self.terminations[agent] or self.truncations[agent]:
            self._was_dead_step(action)
            return
        self._cumulative_rewards[agent] = 0.0
        self.rewards = {a: 0.0 for a in self.agents}
        if agent == "reasoner":
            self.game.trace = str(action)[: self.game.act_space.max_length]
            self.infos = self.game.infos("act")
        else:
            self.rewards, term, trunc, extra = self.game.act(str(action))
            self.terminations = {a: term for a in self.agents}
            self.truncations = {a: trunc for a in self.agents}
            self.infos = self.game.infos("reason", extra)
        self.agent_selection = self._selector.next()
        self._accumulate_rewards()

    def render(self) -> str | None:
        return self.game.actor_view() if self.render_mode == "ansi" else None

    def close(self) -> None:
        self.game.env.close()


class ReasonerActorParallelEnv(ParallelEnv):
    """Parallel form of :class:`ReasonerActorEnv`: steps alternate a ``"reason"`` and an ``"act"`` phase.

    In a ``"reason"`` step only ``actions["reasoner"]`` is used (the trace); in an ``"act"`` step
    only ``actions["actor"]``. Both agents observe what they would in the AEC form; the phase of the
    *next* step is ``infos[agent]["phase"]``. Same arguments as :class:`ReasonerActorEnv`.
    """

    metadata = {"name": "cotdiag_reasoner_actor_parallel_v0", "render_modes": ["ansi"]}

    def __init__(self, env: gym.Env, incentive: str = "cooperative", *, fmt: ResponseFormat = DEFAULT_FORMAT,
                 max_text_length: int = 1_000_000, max_action_length: int = 32_768,
                 render_mode: str | None = None) -> None:
        self.game = _Game(env, incentive, fmt, max_text_length, max_action_length)
        self.possible_agents = list(AGENTS)
        self.agents: list[str] = []
        self.render_mode = render_mode
        self._phase = "reason"

    def observation_space(self, agent: str) -> UnicodeText:
        return self.game.obs_space

    def action_space(self, agent: str) -> UnicodeText:
        return self.game.act_space

    def _observations(self) -> dict[str, str]:
        return {"reasoner": self.game.prompt(), "actor": self.game.actor_view()}

    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[dict, dict]:
        self.game.reset(seed, options)
        self.agents = list(self.possible_agents)
        self._phase = "reason"
        return self._observations(), self.game.infos("reason")

    def step(self, actions: dict[str, str]) -> tuple[dict, dict, dict, dict, dict]:
        term = trunc = False
        if self._phase == "reason":
            self.game.trace = str(actions.get("reasoner", ""))[: self.game.act_space.max_length]
            rewards = {a: 0.0 for a in self.agents}
            self._phase = "act"
            infos = self.game.infos("act")
        else:
            rewards, term, trunc, extra = self.game.act(str(actions.get("actor", "")))
            self._phase = "reason"
            infos = self.game.infos("reason", extra)
        obs = self._observations()
        terminations = {a: term for a in self.agents}
        truncations = {a: trunc for a in self.agents}
        if term or trunc:
            self.agents = []
        return obs, rewards, terminations, truncations, infos

    def render(self) -> str | None:
        return self.game.actor_view() if self.render_mode == "ansi" else None

    def close(self) -> None:
        self.game.env.close()
