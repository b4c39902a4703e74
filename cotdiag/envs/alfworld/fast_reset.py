"""Fast repeated resets of the same ALFWorld game.

Where the time of a raw ``reset`` goes (cProfile, one valid_unseen game, 2 cores):

* ~70% in ``fast_downward.pddl2sas``, called twice by ``PddlState.__init__`` to translate the
  PDDL domain+problem to SAS (plain and optimized). It is a pure function of the two texts.
* ~20% in ``PddlEnv._gather_infos``, which derives the intro text and the admissible commands
  from the game's grammar (tatsu parsing). For the initial state its output is a pure function of
  the game.

:class:`ResetCache` keeps, per game file, the SAS translations and the initial ``GameState``. A
repeated reset builds a fresh ``PddlState`` from the cached translations (which also reloads the
SAS task into Fast Downward, i.e. really resets the simulator) and restores a copy of the
cached initial state instead of re-deriving it. The first reset of a game takes the raw path.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any


class ResetCache:
    """Per-game cache of SAS translations and initial states (LRU over ``max_games`` games).

    Args:
        max_games: how many games to keep (each costs roughly 1-5 MB).
    """

    def __init__(self, max_games: int = 16) -> None:
        self.max_games = max_games
        self._sas: dict[tuple[str, str, bool], Any] = {}
        self._initial: OrderedDict[str, Any] = OrderedDict()

    @contextlib.contextmanager
    def _cached_translation(self) -> Iterator[None]:
        import fast_downward

        raw = fast_downward.pddl2sas
        cache = self._sas

        def pddl2sas(domain: str, problem: str, verbose: bool = False, optimize: bool = False):
            key = (domain, problem, bool(optimize))
            if key not in cache:
                cache[key] = raw(domain, problem, verbose=verbose, optimize=optimize)
            return cache[key]

        fast_downward.pddl2sas = pddl2sas  # scoped: restored below, so raw users are unaffected
        try:
            yield
        finally:
            fast_downward.pddl2sas = raw

    def reset(self, tw_env: Any, gamefile: str) -> Any:
        """Reset ``tw_env`` (a TextWorld wrapper chain over ``PddlEnv``) on its loaded game.

        Returns:
            The ``GameState`` that ``tw_env.reset()`` would return (a fresh copy).
        """
        pddl_env = tw_env.unwrapped
        if gamefile not in self._initial:
            with self._cached_translation():
                state = tw_env.reset()
            self._remember(gamefile, state, pddl_env)
            return state
        from textworld.envs.pddl import logic as pddl_logic

        self._initial.move_to_end(gamefile)
        inner, top, _ = self._initial[gamefile]
        with self._cached_translation():
            pddl_env._pddl_state = pddl_logic.PddlState(
                pddl_env.downward_lib, pddl_env._game_data["pddl_problem"], pddl_env._logic
            )
        pddl_env._pddl_state.all_applicable_actions()  # fills the operator table used by step()
        pddl_env.prev_state = None
        pddl_env._last_action = None
        pddl_env._moves = 0
        pddl_env.state = _shallow(inner)
        state = _shallow(top)
        if hasattr(tw_env, "state"):
            tw_env.state = state
        return state

    def _remember(self, gamefile: str, state: Any, pddl_env: Any) -> None:
        problem = pddl_env._game_data["pddl_problem"]
        self._initial[gamefile] = (_shallow(pddl_env.state), _shallow(state), problem)
        while len(self._initial) > self.max_games:
            _, (_, _, old_problem) = self._initial.popitem(last=False)
            self._sas = {k: v for k, v in self._sas.items() if k[1] != old_problem}


def _shallow(state: Any) -> Any:
    """A new ``GameState`` sharing its values (nothing downstream mutates them in place)."""
    return type(state)(state)
