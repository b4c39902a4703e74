"""Templated reasoning traces per environment family (ALFWorld, ScienceWorld, BFCL, generic).

Each family is a :class:`~cotdiag.traces.context.TraceSource` that reasons from the goal and the
state towards a given action; the dataset builder writes CoT for expert actions with the same
templates. :data:`TEMPLATES` maps env ids to families; :func:`register_templates` adds one.
"""

from __future__ import annotations

import ast
import logging
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from cotdiag.traces.context import TraceContext, TraceSource

logger = logging.getLogger(__name__)


def _pick(rng: np.random.Generator, options: Sequence[str]) -> str:
    return options[int(rng.integers(len(options)))]


def _listing(items: Sequence[str]) -> str:
    items = list(dict.fromkeys(items))
    if not items:
        return ""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


_ALF_GOAL = re.compile(
    r"(?:put|find|heat|cool|clean|examine|look at)\s+(?:a |an |some |two |the )?(?:clean |hot |cool |cold )?"
    r"(?P<obj>[a-z]+)(?:.*?\b(?:in|on|under|with)\s+(?:the |a )?(?P<rec>[a-z]+))?",
)


class ALFWorldTraces:
    """Templated rationales for ALFWorld commands (go to, take, move/put, open, clean/heat/cool, use, ...).

    They cite the goal object and receptacle parsed from the task text, the places already visited
    (``go to`` actions in ``ctx.past_actions``) and what the observation shows.
    """

    def __call__(self, ctx: TraceContext, action: str, rng: np.random.Generator) -> str | None:
        m = _ALF_GOAL.search(ctx.task.lower())
        obj = m.group("obj") if m else "object"
        rec = (m.group("rec") if m else None) or "its destination"
        visited = [a[6:] for a in ctx.past_actions if a.startswith("go to ")]
        seen = f"I have already checked {_listing(visited[-3:])}. " if visited else ""
        words = action.split()
        verb = words[0] if words else ""
        if action.startswith("go to "):
            place = action[6:]
            if rec in place:
                return _pick(rng, [
                    f"I need to end up at the {rec} with the {obj}. {seen}The {place} is where the task wants it, so I should head there now.",
                    f"The goal mentions the {rec}. {seen}Getting to {place} is the next step toward placing the {obj}.",
                ])
            return _pick(rng, [
                f"The task needs a {obj}. {seen}I have not looked at {place} yet, and a {obj} could plausibly be there, so it is worth checking next.",
                f"I still have to find a {obj}. {seen}{place.capitalize()} is a likely spot I haven't searched, so I'll go there.",
                f"Nothing so far shows a {obj}. {seen}Searching {place} next covers a new location.",
            ])
        if verb == "take":
            return _pick(rng, [
                f"The observation shows a {obj} here, which is what the task is about. I should pick it up before doing anything else with it.",
                f"I found the item I was looking for. Holding it is required before I can bring it to the {rec}.",
            ])
        if verb in ("move", "put"):
            return _pick(rng, [
                f"I am holding the {obj} and I am at the {rec}. Placing it here should complete the goal.",
                f"This is the {rec} the task mentioned, and I have the {obj} with me, so I can set it down now.",
            ])
        if verb == "open":
            return f"The {action[5:]} is closed, and the {obj} might be inside. Opening it lets me see its contents."
        if verb == "close":
            return f"I am done with the {action[6:]}; closing it keeps things tidy before I move on."
        if verb in ("clean", "heat", "cool"):
            state = {"clean": "clean", "heat": "hot", "cool": "cool"}[verb]
            return _pick(rng, [
                f"The task asks for a {state} {obj}. I am holding it next to the right appliance, so I should {verb} it here before placing it.",
                f"Before the {obj} can go to the {rec} it must be {state}; this appliance can do that now.",
            ])
        if verb == "use":
            return f"The task is to look at the {obj} under a light. Turning on the {action[4:]} gives me the light I need."
        if verb == "examine":
            return f"I want to be sure what is at {action[8:]} before acting; examining it gives more detail about the {obj}."
        if action == "inventory":
            return "I am not sure what I am carrying right now. Checking my inventory avoids a wasted move."
        if action == "look":
            return "I should get my bearings first: looking around tells me which places and objects are nearby."
        return None


#: ScienceWorld's locations (the ``go to``/``open door to`` targets).
SCIENCEWORLD_ROOMS: tuple[str, ...] = ("kitchen", "bathroom", "workshop", "art studio", "greenhouse", "outside",
                                      "bedroom", "living room", "foundry", "hallway")
#: Action prefixes whose object ``distractors`` may swap for another object of the state's text.
_SW_OBJECT_VERBS: tuple[str, ...] = ("pick up ", "focus on ", "open ", "close ", "activate ", "deactivate ",
                                     "look at ", "move ", "pour ", "use ", "eat ", "put down ")
_SW_OBJECT_RE = re.compile(r"\b(?:an?|the)\s+([a-z][a-z0-9]*(?: [a-z0-9]+){0,3}?)(?=\s*(?:[,.;:()\n]|$| and | with | is | in | on | to | that | which ))")


class ScienceWorldTraces:
    """Templated rationales for ScienceWorld actions (move between rooms, pick up, focus, use, ...).

    ``distractors`` (for envs run without the admissible-action list, which costs a JVM call per
    step) proposes the expert action with its target swapped: another room for ``go to`` /
    ``open door to``, another object named in the task or the observation ("a/an/the X") for
    object verbs (``pick up``, ``focus on``, ...).
    """

    def distractors(self, ctx: TraceContext, rng: np.random.Generator) -> list[str]:
        """Plausible wrong actions near ``ctx.expert_action`` (may be empty)."""
        a = (ctx.expert_action or "").strip()
        out: list[str] = []
        for room in SCIENCEWORLD_ROOMS:
            if a.endswith(" " + room) and (a.startswith("go to ") or a.startswith("open door to ")):
                out += [a[: -len(room)] + r for r in SCIENCEWORLD_ROOMS if r != room]
                break
        text = f"{ctx.task}\n{ctx.observation}".lower()
        objects = list(dict.fromkeys(m.strip() for m in _SW_OBJECT_RE.findall(text)))
        for prefix in _SW_OBJECT_VERBS:
            if a.startswith(prefix) and not out:
                thing = a[len(prefix):]
                out += [prefix + o for o in objects if o != thing and o not in SCIENCEWORLD_ROOMS]
                break
        return [d for d in dict.fromkeys(out) if d != a]

    def __call__(self, ctx: TraceContext, action: str, rng: np.random.Generator) -> str | None:
        task = ctx.task.strip().rstrip(".")
        short = task.split(".")[0]
        words = action.split()
        verb = words[0] if words else ""
        if verb in ("go", "teleport") or action.startswith("open door"):
            place = words[-1]
            return _pick(rng, [
                f"The task is: {short}. The things I need are probably not all in this room; the {place} is a likely place to find the equipment.",
                f"To make progress on '{short}' I need a different location. Moving toward the {place} gets me closer to the materials.",
            ])
        if action.startswith("pick up"):
            thing = action[8:]
            return f"I will need the {thing} for this experiment, and it is within reach here. Carrying it lets me use it wherever the task happens."
        if action.startswith("focus on"):
            thing = action[9:]
            return f"The task asks me to identify the right item. From the observation, the {thing} matches what the task describes, so this is the one to signal."
        if verb in ("use", "activate", "deactivate", "connect", "pour", "mix", "move"):
            return _pick(rng, [
                f"The goal is to {short[0].lower() + short[1:]}. The next physical step is to {verb} the relevant objects so the experiment moves forward.",
                f"Everything I need is here. Doing '{verb}' now changes the state the task depends on.",
            ])
        if verb == "wait":
            return "The process I started needs time to take effect. Waiting lets the state change before I check it."
        if verb in ("look", "read", "examine", "inventory"):
            return "I should check the current state before acting, so I don't miss an object the task needs."
        return None


class BFCLTraces:
    """Templated rationales for BFCL function calls, from the arguments.

    An action is one call ``name(arg=value, ...)`` or a list of calls ``[f(...), g(...)]`` (BFCL's
    single-turn answer format). The trace quotes the current request (``info["bfcl/request"]``, the
    last user message of the turn, else the task) and reads each call's arguments as facts of it.

    ``distractors`` proposes plausible wrong answers in the expert answer's own form (bare call or
    list): another value for one argument, a dropped argument, or another available function
    (``info["bfcl/functions"]`` or ``info["functions"]`` names).
    """

    @staticmethod
    def _parse(action: str) -> tuple[list[tuple[str, dict[str, Any]]], bool] | None:
        """``([(name, kwargs), ...], is_list)``; ``None`` if ``action`` is not one or more calls."""
        try:
            node = ast.parse(action.strip(), mode="eval").body
        except (SyntaxError, ValueError):
            return None
        is_list = isinstance(node, ast.List)
        nodes = node.elts if is_list else [node]
        if not nodes or not all(isinstance(n, ast.Call) for n in nodes):
            return None
        calls = []
        for n in nodes:
            args = {}
            for kw in n.keywords:
                try:
                    args[kw.arg or "**"] = ast.literal_eval(kw.value)
                except ValueError:
                    args[kw.arg or "**"] = ast.unparse(kw.value)
            calls.append((ast.unparse(n.func), args))
        return calls, is_list

    @staticmethod
    def _render(calls: Sequence[tuple[str, dict[str, Any]]], is_list: bool) -> str:
        text = ", ".join(f"{n}(" + ", ".join(f"{k}={v!r}" for k, v in a.items()) + ")" for n, a in calls)
        return f"[{text}]" if is_list else text

    @staticmethod
    def request(ctx: TraceContext) -> str:
        """The request the current turn answers (first line, at most 200 characters)."""
        req = str(ctx.info.get("bfcl/request") or ctx.task).strip()
        return req.split("\n")[0][:200]

    def __call__(self, ctx: TraceContext, action: str, rng: np.random.Generator) -> str | None:
        parsed = self._parse(action)
        if parsed is None:
            return None
        calls, _ = parsed
        req = self.request(ctx)
        names = " and ".join(dict.fromkeys(n for n, _ in calls))
        facts = "; ".join(f"the {k.replace('_', ' ')} is {v!r}" for _, a in calls for k, v in a.items())
        if not facts:
            return f"The request is: {req} The {names} function needs no arguments, and calling it gives the information the answer depends on."
        return _pick(rng, [
            f"The user asks: {req} Reading the request, {facts}. {names} is the function that handles this, so I can fill its parameters from those details.",
            f"To answer '{req}' I need a function call. From the request, {facts}; {names} takes exactly these, so that is the call to make.",
        ])

    def distractors(self, ctx: TraceContext, rng: np.random.Generator) -> list[str]:
        """Plausible wrong answers near ``ctx.expert_action`` (may be empty)."""
        parsed = self._parse(ctx.expert_action or "")
        if parsed is None:
            return []
        calls, is_list = parsed
        functions = ctx.info.get("bfcl/functions") or ctx.info.get("functions") or []
        others = [str(f.get("name") if isinstance(f, dict) else f) for f in functions]
        out = []
        for i, (name, args) in enumerate(calls):
            variants: list[tuple[str, dict[str, Any]]] = []
            for k, v in args.items():
                if isinstance(v, bool):
                    variants.append((name, {**args, k: not v}))
                elif isinstance(v, (int, float)):
                    variants.append((name, {**args, k: v * 2 if v else 1}))
                elif isinstance(v, str) and v:
                    variants.append((name, {**args, k: v.upper() if v != v.upper() else v.lower()}))
                if len(args) > 1:
                    variants.append((name, {kk: vv for kk, vv in args.items() if kk != k}))
            variants += [(o, args) for o in others if o and o != name]
            out += [self._render([*calls[:i], v, *calls[i + 1:]], is_list) for v in variants]
        return [d for d in dict.fromkeys(out) if d != ctx.expert_action]


class GenericTraces:
    """A rationale for any action in any env that fills the ``info`` contract."""

    def __call__(self, ctx: TraceContext, action: str, rng: np.random.Generator) -> str | None:
        obs = ctx.observation.strip().splitlines()[-1][:160] if ctx.observation.strip() else "the current state"
        return _pick(rng, [
            f"My goal: {ctx.task.strip()} Right now: {obs} Taking '{action}' is the move that best advances the goal from here.",
            f"Given the goal ({ctx.task.strip()}) and what I see ({obs}), the most useful next step is '{action}'.",
        ])


#: Template sources set by :func:`register_templates`, by env id; they take precedence over the
#: source an env class declares (``TextEnv.reasoning_templates``).
TEMPLATES: dict[str, TraceSource] = {}

_WARNED: set[str] = set()


def register_templates(env_id: str, source: TraceSource) -> None:
    """Use ``source`` as the templated trace source of ``env_id`` (overrides the env's declaration)."""
    TEMPLATES[env_id] = source


def templates_for(env_id: str | None) -> TraceSource:
    """The templated trace source of ``env_id``.

    In order: a source given to :func:`register_templates`; the one the env class declares in
    ``reasoning_templates`` (``"module:Name"`` of a ``TraceSource`` class, instantiated with no
    argument, or object); else :class:`GenericTraces`, with one warning per env id naming the
    attribute to set.

    Raises:
        ImportError, AttributeError: the declared ``"module:Name"`` cannot be loaded.
    """
    if not env_id:
        return GenericTraces()
    if env_id in TEMPLATES:
        return TEMPLATES[env_id]
    declared = _declared(env_id)
    if declared:
        from gymnasium.envs.registration import load_env_creator

        obj = load_env_creator(declared)
        return obj() if isinstance(obj, type) else obj
    if env_id not in _WARNED:
        _WARNED.add(env_id)
        logger.warning("%s declares no reasoning templates: its SFT traces and conflicting traces are generic "
                       "(set reasoning_templates = 'module:Name' on the env class, or call "
                       "cotdiag.traces.register_templates(%r, source); docs/adding_an_env.md)", env_id, env_id)
    return GenericTraces()


def _declared(env_id: str) -> str | None:
    """The env class's ``reasoning_templates`` (``None`` for an unregistered id or a factory entry point)."""
    from cotdiag.envs import env_class

    return getattr(env_class(env_id), "reasoning_templates", None)
