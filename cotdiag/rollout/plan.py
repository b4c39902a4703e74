"""The episode plan of a run: which task each episode plays and with which reset seed.

Episode ``i`` plays task ``perm[i % n_tasks]`` of a permutation of the split drawn from ``seed``,
with ``reset(seed=seed + i)``, so a run covers the split before repeating a task and every episode
is reproducible on its own (which is what makes resuming exact and backends interchangeable).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class PlannedEpisode(NamedTuple):
    """One planned episode (a 3-tuple: ``index, task_id, seed = planned``).

    Attributes:
        index: episode index in the run (``int``, from 0).
        task_id: the task it plays (``reset(options={"task_id": ...})``).
        seed: its reset seed (``int``; unique within a run).
    """

    index: int
    task_id: str
    seed: int


def episode_plan(task_ids: list[str], episodes: int, seed: int) -> list[PlannedEpisode]:
    """The plan of a run of ``episodes`` episodes over ``task_ids``.

    Args:
        task_ids: the split's ordered task ids (non-empty).
        episodes: number of episodes (>= 0).
        seed: base seed: the permutation's and the first episode's reset seed.

    Returns:
        ``episodes`` :class:`PlannedEpisode` in index order.

    Example:
        >>> episode_plan(["a", "b", "c"], 4, seed=0)[3]
        PlannedEpisode(index=3, task_id='c', seed=3)
    """
    perm = np.random.default_rng(seed).permutation(len(task_ids))
    return [PlannedEpisode(i, task_ids[int(perm[i % len(task_ids)])], seed + i) for i in range(episodes)]
