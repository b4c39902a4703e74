"""ALFWorld game files: where they live, which split holds which, and their task parameters.

Layout (official): ``$ALFWORLD_DATA/json_2.1.1/<split>/<task_type>-<Object>-<MRecep>-<Recep>-<Scene>/
<trial>/game.tw-pddl`` with, for the eval splits, ``traj_data.json`` beside it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from cotdiag.error import DataNotFoundError, InvalidConfigError

#: The six ALFWorld task types (alfworld ``TASK_TYPES``).
TASK_TYPES: tuple[str, ...] = (
    "pick_and_place_simple",
    "look_at_obj_in_light",
    "pick_clean_then_place_in_recep",
    "pick_heat_then_place_in_recep",
    "pick_cool_then_place_in_recep",
    "pick_two_obj_and_place",
)

#: Task types held out by the study (docs/concepts.md (arXiv 2606.26935), "OOD splits": cool-and-place, pick-two-and-place).
OOD_TASK_TYPES: tuple[str, ...] = ("pick_cool_then_place_in_recep", "pick_two_obj_and_place")

#: split name -> (folder under json_2.1.1, task types kept or None for all).
SPLITS: dict[str, tuple[str, tuple[str, ...] | None]] = {
    "train": ("train", None),
    "valid_seen": ("valid_seen", None),
    "valid_unseen": ("valid_unseen", None),
    "train_id": ("train", tuple(t for t in TASK_TYPES if t not in OOD_TASK_TYPES)),
    "eval_ood_task_types": ("valid_unseen", OOD_TASK_TYPES),
    "eval_id_task_types": ("valid_seen", tuple(t for t in TASK_TYPES if t not in OOD_TASK_TYPES)),
}


def default_data_root() -> Path:
    """``$ALFWORLD_DATA`` if set, else alfworld's own default ``~/.cache/alfworld``."""
    return Path(os.environ.get("ALFWORLD_DATA") or Path.home() / ".cache" / "alfworld").expanduser()


def split_dir(split: str, data_path: str | os.PathLike | None = None) -> Path:
    """Folder holding the games of ``split``.

    Raises:
        InvalidConfigError: unknown split.
        DataNotFoundError: the folder is missing or holds no game (names ``ALFWORLD_DATA``).
    """
    if split not in SPLITS:
        raise InvalidConfigError(f"expected split in {list(SPLITS)}, got {split!r}")
    root = Path(data_path).expanduser() if data_path is not None else default_data_root()
    folder = root / "json_2.1.1" / SPLITS[split][0]
    if not folder.is_dir() or not any(folder.glob("*/*/game.tw-pddl")):
        raise DataNotFoundError(
            f"no ALFWorld games in {folder} (from data_path or $ALFWORLD_DATA="
            f"{os.environ.get('ALFWORLD_DATA', '<unset>')}). Set ALFWORLD_DATA to the folder holding "
            "json_2.1.1/, or run `alfworld-download` to fetch the official data."
        )
    return folder


def list_games(split: str, data_path: str | os.PathLike | None = None) -> list[str]:
    """Sorted task ids (``"<task folder>/<trial>"``) of ``split``.

    Keeps solvable games, skips ``movable`` and ``Sliced`` trials as alfworld's own loader does.
    """
    folder = split_dir(split, data_path)
    keep = SPLITS[split][1]
    ids = []
    for game in sorted(folder.glob("*/*/game.tw-pddl")):
        task_folder = game.parent.parent.name
        if "movable" in task_folder or "Sliced" in task_folder:
            continue
        if keep is not None and task_folder.split("-")[0] not in keep:
            continue
        ids.append(f"{task_folder}/{game.parent.name}")
    return ids


def task_params_from_folder(task_folder: str) -> dict[str, object]:
    """Derive ``task_type`` and ``pddl_params`` from a task folder name.

    The folder name is ``<task_type>-<Object>-<MRecep>-<Recep>-<SceneNum>`` (ALFRED's naming);
    for ``look_at_obj_in_light`` the ``<Recep>`` slot holds the light (``toggle_target``).
    ``"None"`` means empty. Used when ``traj_data.json`` is absent (the train subset).

    Returns:
        ``{"task_type", "object_target", "mrecep_target", "parent_target", "toggle_target",
        "object_sliced"}`` with the same values as ``traj_data.json``'s ``task_type`` and
        ``pddl_params`` (tested on every valid game).

    Raises:
        ValueError: the name does not have five ``-``-separated fields.
    """
    parts = task_folder.split("-")
    if len(parts) != 5:
        raise InvalidConfigError(f"expected '<task_type>-<Object>-<MRecep>-<Recep>-<Scene>', got {task_folder!r}")
    task_type, obj, mrecep, recep, _scene = parts
    none = lambda s: "" if s == "None" else s  # noqa: E731
    is_look = task_type == "look_at_obj_in_light"
    return {
        "task_type": task_type,
        "object_target": none(obj),
        "mrecep_target": none(mrecep),
        "parent_target": "" if is_look else none(recep),
        "toggle_target": none(recep) if is_look else "",
        "object_sliced": "Sliced" in obj,
    }


def task_params(gamefile: str | os.PathLike) -> dict[str, object]:
    """``task_type`` + ``pddl_params`` of a game: from ``traj_data.json`` when present, else derived."""
    traj = Path(gamefile).parent / "traj_data.json"
    if traj.exists():
        data = json.loads(traj.read_text())
        return {"task_type": data["task_type"], **data["pddl_params"]}
    return task_params_from_folder(Path(gamefile).parent.parent.name)
