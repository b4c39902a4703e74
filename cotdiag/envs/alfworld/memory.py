"""Keep an ALFWorld env's memory flat over resets on distinct games (issue #12 item 15).

Root cause of the growth (about 0.5-1 MB per distinct game): TextWorld interns every
``textworld.logic.Proposition`` and ``Signature`` it builds in the ``mementos`` package's global
``_memento_cache`` dict, and nothing ever removes an entry. The tw-pddl engine builds one
``Proposition`` per fact of each state it loads or steps to, and ALFWorld object names carry
coordinates (``Apple_|-01.65|+00.82|-00.03``), so almost every fact of a new game is a new key:
the dict gains ~500 entries (each holding the proposition, its ``Variable`` list and key tuples)
per game and the process never gives them back. Fast Downward itself stays flat (reloading SAS
tasks into one ``libdownward`` copy, ``benchmarks/alfworld_memory.py``).

The interning is only a speed-up: ``Proposition``, ``Signature`` and ``Variable`` compare and hash
by value and TextWorld never tests them by identity, so dropping the cache changes no result;
later constructions just build fresh, equal objects. :func:`release_interned_facts` does that, and
:class:`~cotdiag.envs.alfworld.env.ALFWorldEnv` calls it whenever it switches to another game and
on ``close``.
"""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)


def _intern_cache() -> dict:
    """TextWorld's global intern cache (``mementos.core._memento_cache``); ``{}`` if absent."""
    try:
        from mementos import core
    except ImportError:  # pragma: no cover - mementos is a TextWorld dependency
        return {}
    return getattr(core, "_memento_cache", {})


def interned_fact_count() -> int:
    """Number of entries (propositions and signatures) in TextWorld's global intern cache."""
    return len(_intern_cache())


def release_interned_facts() -> int:
    """Drop TextWorld's global ``Proposition``/``Signature`` intern cache.

    The cache is process-wide, so this also drops entries built by other TextWorld environments in
    the process; they too only lose the sharing of equal objects (no behaviour change).

    Returns:
        The number of entries dropped.
    """
    cache = _intern_cache()
    dropped = len(cache)
    cache.clear()
    logger.debug("dropped %d interned TextWorld facts", dropped)
    return dropped
