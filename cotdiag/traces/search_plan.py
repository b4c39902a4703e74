"""ALFWorld rationales that state the expert's search plan (``cotdiag build-data --traces search-plan``).

The env's expert (alfworld's handcoded expert, :mod:`cotdiag.envs.alfworld.expert`) looks for a
thing by visiting the room's receptacles whose class can hold it (alfworld's prior table
``OBJECT_TO_VAL_RECEPTACLE``), the last listed first, then the room's other receptacles, skipping
the places it has visited; holding the object, it goes to the appliance the task needs
(microwave, fridge, sink) and then to the destination. The shipped templates
(:class:`~cotdiag.traces.templates.ALFWorldTraces`) justify each ``go to`` without naming the
places the room has, so an agent trained on them learns the expert's order of numbers, not where
it comes from (docs/baselines.md: it goes to receptacles the room does not have).

:class:`ALFWorldSearchPlanTraces` writes that plan into the reasoning of every ``go to`` it can
reconstruct from the room's listing (the reset observation) and the past actions: the classes
that can hold the thing sought, and the next :data:`PLAN_LENGTH` places not yet visited, in the
expert's order. The reasoning then carries the state a search needs (what is left to check), which
the next turn can copy. Every other action, and a ``go to`` the reconstruction does not predict,
keeps the shipped template. docs/baselines.md ("Data, SFT, GRPO") describes both sources and
the agent trained on these rationales.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from cotdiag.traces.context import TraceContext
from cotdiag.traces.templates import _ALF_GOAL, ALFWorldTraces

#: Unvisited places a rationale lists (the first is the one the action goes to).
PLAN_LENGTH = 3
#: Appliance classes by the task verb that needs them, and the state the verb gives.
_APPLIANCES: dict[str, tuple[tuple[str, ...], str]] = {
    "heat": (("microwave",), "hot"), "cool": (("fridge",), "cool"), "clean": (("sinkbasin", "bathtubbasin"), "clean"),
}
_PLACE = re.compile(r"\b([a-z]+) (\d+)\b")


def kind(place: str) -> str:
    """The class of a place: ``"cabinet 12"`` gives ``"cabinet"`` (alfworld's ``object_id_to_cls``)."""
    return place.rsplit(" ", 1)[0]


def room_receptacles(observation: str) -> list[str]:
    """The receptacles an ALFWorld reset observation lists, in its order.

    ``"... you see a cabinet 2, a cabinet 1, and a toaster 1.\\n\\nYour task is to: ..."`` gives
    ``["cabinet 2", "cabinet 1", "toaster 1"]``; an observation without ``"you see"`` gives ``[]``.
    """
    low = observation.lower()
    start = low.find("you see")
    if start < 0:
        return []
    end = low.find("your task is to", start)
    return [f"{c} {n}" for c, n in _PLACE.findall(low[start : end if end >= 0 else None])]


def search_order(receptacles: Sequence[str], classes: Sequence[str], receptacle_class: bool = False) -> list[str]:
    """The handcoded expert's visiting order when it looks for a thing held by ``classes``.

    Its list is ``[the others] + [those of a class in classes]`` (room order), taken from the end
    (alfworld's ``BasePolicy``: ``receptacles_to_check[-1]``), so this returns that list reversed.
    A thing that is itself a receptacle class (``receptacle_class``: a cup, a pot; ``classes`` is
    then ``[its class]``) is looked for among the receptacles of its class, else everywhere.
    """
    held = [r for r in receptacles if kind(r) in classes]
    if receptacle_class:
        return (held or list(receptacles))[::-1]
    return ([r for r in receptacles if r not in held] + held)[::-1]


def held_object(past_actions: Sequence[str]) -> str | None:
    """The object taken last and not put down since (``"mug 1"``), or ``None``."""
    held = None
    for a in past_actions:
        if a.startswith("take ") and " from " in a:
            held = a[5:].split(" from ")[0]
        elif a.startswith(("put ", "move ")):
            held = None
    return held


class ALFWorldSearchPlanTraces(ALFWorldTraces):
    """:class:`ALFWorldTraces` whose ``go to`` rationales state the expert's search plan (module docstring).

    Args:
        prior: object class -> receptacle classes that can hold it (default: alfworld's
            ``BasePolicy.OBJECT_TO_VAL_RECEPTACLE``, the table the expert searches with).
        receptacle_classes: the classes the expert treats as receptacles (default: alfworld's
            ``BasePolicy.RECEPTACLES``; a cup or a pot is one, so the expert does not use the prior).
    """

    def __init__(self, prior: dict[str, list[str]] | None = None, receptacle_classes: Sequence[str] | None = None) -> None:
        if prior is None or receptacle_classes is None:
            from alfworld.agents.expert.handcoded_expert import BasePolicy

            prior = BasePolicy.OBJECT_TO_VAL_RECEPTACLE if prior is None else prior
            receptacle_classes = BasePolicy.RECEPTACLES if receptacle_classes is None else receptacle_classes
        self.prior = prior
        self.receptacle_classes = frozenset(receptacle_classes)

    def __call__(self, ctx: TraceContext, action: str, rng: np.random.Generator) -> str | None:
        plan = self.plan_rationale(ctx, action) if action.startswith("go to ") else None
        return plan if plan is not None else super().__call__(ctx, action, rng)

    def plan_rationale(self, ctx: TraceContext, action: str) -> str | None:
        """The plan rationale of ``action`` (a ``go to``), or ``None`` where the plan does not predict it."""
        m = _ALF_GOAL.search(ctx.task.lower())
        if not m:
            return None
        obj, rec = m.group("obj"), m.group("rec")
        place = action[6:]
        rooms = room_receptacles(ctx.past_observations[0] if ctx.past_observations else ctx.observation)
        if place not in rooms:
            return None
        held = held_object(ctx.past_actions)
        if held is None or held.split()[0] != obj:
            return self._search(ctx, obj, place, rooms, f"I need a {obj}.")
        done = {a.split(" ", 1)[0] for a in ctx.past_actions}  # the verbs already used
        for verb, (classes, state) in _APPLIANCES.items():
            if verb in ctx.task_type and verb not in done:
                return self._go(place, rooms, classes, f"I have the {obj}, and it must be {state} first.")
        if rec and any(r.startswith(f"{rec} ") for r in rooms):
            return self._go(place, rooms, (rec,), f"I have the {obj}, and it goes to the {rec}.")
        if rec:  # a thing to find while holding the object (the lamp of look_at_obj_in_light)
            return self._search(ctx, rec, place, rooms, f"I have the {obj}; now I need a {rec}.")
        return None

    @staticmethod
    def _go(place: str, rooms: Sequence[str], classes: Sequence[str], why: str) -> str | None:
        """The expert goes to the last listed receptacle of the classes."""
        targets = [r for r in rooms if kind(r) in classes][::-1]
        if not targets or targets[0] != place:
            return None
        if len(targets) == 1:
            return f"{why} This room's {kind(place)} is {place}, so I go to {place}."
        return f"{why} This room has {', '.join(targets)}; I go to {place}."

    def _search(self, ctx: TraceContext, thing: str, place: str, rooms: Sequence[str], why: str) -> str | None:
        """A search step: back to where the thing was seen, else the next unvisited place of the plan.

        As the expert's memory: a sighting counts since the thing's class was last taken or put
        down, a visit since anything was last taken or put down (a new search starts afresh)."""
        pattern = re.compile(rf"\b{re.escape(thing)} \d+\b")
        after = list(ctx.past_observations[1:]) + [ctx.observation]
        loc, seen, visited = "", "", set()
        for a, obs in zip(ctx.past_actions, after, strict=False):
            if a.startswith(("take ", "put ", "move ")):
                visited = {loc}  # a new search; the expert does not check where it stands again
                if a.split(" ")[1] == thing:
                    seen = ""
            if a.startswith("go to "):
                loc = a[6:]
                visited.add(loc)
            if pattern.search(obs.lower()):
                seen = loc
        if seen:
            return f"{why} I saw one at {seen} earlier, so I go back there." if seen == place else None
        is_receptacle = thing in self.receptacle_classes
        classes = [thing] if is_receptacle else self.prior.get(thing, [])
        plan = [r for r in search_order(rooms, classes, is_receptacle) if r not in visited]
        if not plan or plan[0] != place:
            return None
        kinds = [] if is_receptacle else list(dict.fromkeys(kind(r) for r in rooms if kind(r) in classes))
        where = f"A {thing} can be in a {', '.join(kinds)}. " if kinds else ""
        return f"{why} {where}Not checked yet: {', '.join(plan[:PLAN_LENGTH])}. I go to {place}."
