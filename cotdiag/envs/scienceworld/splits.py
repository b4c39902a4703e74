"""ScienceWorld task types, variation splits and the study's out-of-domain split.

ScienceWorld (Wang et al., EMNLP 2022) splits the variations of each of its 30 task types into
contiguous ``train`` / ``dev`` / ``test`` ranges (``getVariationsTrain/Dev/Test`` of the simulator).
They are copied here as a static table so that listing a split needs no JVM;
``tests/envs/test_scienceworld.py`` and ``benchmarks/scienceworld_gold.py`` check the table against
the installed simulator.

The study (docs/concepts.md, arXiv 2606.26935) holds out "the last task type of each topic": the task ids 1-4, 2-3,
3-4, 4-4, 5-2, 6-3, 7-3, 8-2, 9-3 and 10-2 of ``scienceworld/tasks.json``. ``train_id`` is the
``train`` variations of the other 20 types, ``test_id`` their ``test`` variations (in-domain
evaluation on unseen variations) and ``test_ood_task_types`` the ``test`` variations of the 10
held-out types.

A task id is ``"<task_name>/<variation>"``, e.g. ``"boil/21"``.

Example:
    >>> list_tasks("test_ood_task_types")[:2]
    ['change-the-state-of-matter-of/21', 'change-the-state-of-matter-of/22']
    >>> parse_task_id("boil/21")
    ('boil', 21)
"""

from __future__ import annotations

from cotdiag.error import InvalidConfigError

#: ``task_name -> (n_variations, first dev variation, first test variation)``, in the order of
#: ScienceWorld's ``tasks.json`` (the comment is the task id); taken from scienceworld 1.2.3.
VARIATIONS: dict[str, tuple[int, int, int]] = {
    "boil": (30, 14, 21),  # 1-1
    "melt": (30, 14, 21),  # 1-2
    "freeze": (30, 14, 21),  # 1-3
    "change-the-state-of-matter-of": (30, 14, 21),  # 1-4
    "use-thermometer": (540, 270, 405),  # 2-1
    "measure-melting-point-known-substance": (436, 218, 327),  # 2-2
    "measure-melting-point-unknown-substance": (300, 150, 225),  # 2-3
    "power-component": (20, 10, 15),  # 3-1
    "power-component-renewable-vs-nonrenewable-energy": (20, 10, 15),  # 3-2
    "test-conductivity": (900, 450, 675),  # 3-3
    "test-conductivity-of-unknown-substances": (600, 300, 450),  # 3-4
    "find-living-thing": (300, 150, 225),  # 4-1
    "find-non-living-thing": (300, 150, 225),  # 4-2
    "find-plant": (300, 150, 225),  # 4-3
    "find-animal": (300, 150, 225),  # 4-4
    "grow-plant": (126, 62, 93),  # 5-1
    "grow-fruit": (126, 62, 93),  # 5-2
    "chemistry-mix": (32, 16, 24),  # 6-1
    "chemistry-mix-paint-secondary-color": (36, 18, 27),  # 6-2
    "chemistry-mix-paint-tertiary-color": (36, 18, 27),  # 6-3
    "lifespan-longest-lived": (125, 62, 93),  # 7-1
    "lifespan-shortest-lived": (125, 62, 93),  # 7-2
    "lifespan-longest-lived-then-shortest-lived": (125, 62, 93),  # 7-3
    "identify-life-stages-1": (14, 6, 9),  # 8-1
    "identify-life-stages-2": (10, 4, 6),  # 8-2
    "inclined-plane-determine-angle": (168, 84, 126),  # 9-1
    "inclined-plane-friction-named-surfaces": (1386, 692, 1038),  # 9-2
    "inclined-plane-friction-unnamed-surfaces": (162, 80, 120),  # 9-3
    "mendelian-genetics-known-plant": (120, 60, 90),  # 10-1
    "mendelian-genetics-unknown-plant": (480, 240, 360),  # 10-2
}

#: ``task_id`` of ``tasks.json`` -> task name (same order as :data:`VARIATIONS`).
TASK_NUMBERS: dict[str, str] = {
    "1-1": "boil",
    "1-2": "melt",
    "1-3": "freeze",
    "1-4": "change-the-state-of-matter-of",
    "2-1": "use-thermometer",
    "2-2": "measure-melting-point-known-substance",
    "2-3": "measure-melting-point-unknown-substance",
    "3-1": "power-component",
    "3-2": "power-component-renewable-vs-nonrenewable-energy",
    "3-3": "test-conductivity",
    "3-4": "test-conductivity-of-unknown-substances",
    "4-1": "find-living-thing",
    "4-2": "find-non-living-thing",
    "4-3": "find-plant",
    "4-4": "find-animal",
    "5-1": "grow-plant",
    "5-2": "grow-fruit",
    "6-1": "chemistry-mix",
    "6-2": "chemistry-mix-paint-secondary-color",
    "6-3": "chemistry-mix-paint-tertiary-color",
    "7-1": "lifespan-longest-lived",
    "7-2": "lifespan-shortest-lived",
    "7-3": "lifespan-longest-lived-then-shortest-lived",
    "8-1": "identify-life-stages-1",
    "8-2": "identify-life-stages-2",
    "9-1": "inclined-plane-determine-angle",
    "9-2": "inclined-plane-friction-named-surfaces",
    "9-3": "inclined-plane-friction-unnamed-surfaces",
    "10-1": "mendelian-genetics-known-plant",
    "10-2": "mendelian-genetics-unknown-plant",
}

#: The 30 task types (ScienceWorld task names), in ``tasks.json`` order.
TASK_TYPES: tuple[str, ...] = tuple(VARIATIONS)

#: The study's held-out task types: the last task of each topic group of ``tasks.json``.
OOD_TASK_NUMBERS: tuple[str, ...] = ("1-4", "2-3", "3-4", "4-4", "5-2", "6-3", "7-3", "8-2", "9-3", "10-2")
OOD_TASK_TYPES: tuple[str, ...] = tuple(TASK_NUMBERS[i] for i in OOD_TASK_NUMBERS)
ID_TASK_TYPES: tuple[str, ...] = tuple(t for t in TASK_TYPES if t not in OOD_TASK_TYPES)

#: Split name -> (task types, ScienceWorld variation split).
SPLITS: dict[str, tuple[tuple[str, ...], str]] = {
    "train": (TASK_TYPES, "train"),
    "dev": (TASK_TYPES, "dev"),
    "test": (TASK_TYPES, "test"),
    "train_id": (ID_TASK_TYPES, "train"),
    "test_id": (ID_TASK_TYPES, "test"),
    "test_ood_task_types": (OOD_TASK_TYPES, "test"),
}


def variations(task_name: str, part: str) -> range:
    """Variation indices of ``task_name`` in ScienceWorld's ``part`` (``train``, ``dev``, ``test``).

    Raises:
        InvalidConfigError: unknown task name or part.
    """
    if task_name not in VARIATIONS:
        raise InvalidConfigError(f"expected a ScienceWorld task name in {list(TASK_TYPES)}, got {task_name!r}")
    n, dev, test = VARIATIONS[task_name]
    ranges = {"train": range(0, dev), "dev": range(dev, test), "test": range(test, n)}
    if part not in ranges:
        raise InvalidConfigError(f"expected part in {list(ranges)}, got {part!r}")
    return ranges[part]


def list_tasks(split: str) -> list[str]:
    """Ordered task ids (``"<task_name>/<variation>"``) of ``split``.

    Raises:
        InvalidConfigError: unknown split (the message lists :data:`SPLITS`).
    """
    if split not in SPLITS:
        raise InvalidConfigError(f"expected split in {list(SPLITS)}, got {split!r}")
    types, part = SPLITS[split]
    return [f"{t}/{v}" for t in types for v in variations(t, part)]


def parse_task_id(task_id: str) -> tuple[str, int]:
    """Split ``"<task_name>/<variation>"`` into ``(task_name, variation)``.

    Raises:
        InvalidConfigError: malformed id, unknown task name or variation out of range.
    """
    name, sep, var = task_id.rpartition("/")
    if not sep or not var.isdigit() or name not in VARIATIONS:
        raise InvalidConfigError(f"expected task_id '<task_name>/<variation>', got {task_id!r}")
    v = int(var)
    if v >= VARIATIONS[name][0]:
        raise InvalidConfigError(f"expected variation < {VARIATIONS[name][0]} for {name}, got {v}")
    return name, v
