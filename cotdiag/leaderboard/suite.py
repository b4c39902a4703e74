"""Versioned, pinned evaluation suites.

A suite is a named, versioned list of :class:`SuiteEntry` (env id, split, in- or out-of-domain,
episode seeds, step limit, decoding modes). Changing an entry means bumping the suite's version,
so results of two versions are never mixed (the version is part of every record's config hash).

Built-in suites:

* ``default`` (v1): ALFWorld, ScienceWorld and BFCL, in-domain and out-of-domain (the study's
  held-out task types / categories, docs/concepts.md (arXiv 2606.26935) "OOD splits"); 20 episodes per entry and mode.
  ScienceWorld has no in-domain-only test split, so its in-domain entry uses ``dev`` (held-out
  variations of every task type).
* ``smoke`` (v1): ALFWorld only, 1 episode per split (seed 4: a short look-at-in-light and a
  cool-and-place game), 5 steps: it checks the plumbing, not the policies (tests, CI).

A suite can also be a TOML or JSON file (``--suite my_suite.toml``)::

    name = "textworld"
    version = 1
    [[entries]]
    env_id = "TextWorldExample-v0"
    split = "test"
    domain = "id"
    seed = 0
    episodes = 2
    max_steps = 20
    modes = ["prompt", "cot"]
"""

from __future__ import annotations

import hashlib
import json

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cotdiag.error import InvalidConfigError
from cotdiag.response import DECODING_MODES

#: The decoding modes (docs/concepts.md, arXiv 2606.26935): prefilled action tag vs reasoning first.
DOMAINS: tuple[str, ...] = ("id", "ood")


@dataclass(frozen=True)
class SuiteEntry:
    """One (env, split) of a suite.

    Attributes:
        env_id: registered Gymnasium id.
        split: the env's split name.
        domain: ``"id"`` (in-domain) or ``"ood"`` (out-of-domain).
        seed: base seed; episode ``i`` resets with ``seed + i`` (see :func:`cotdiag.rollout.episode_plan`).
        episodes: number of episodes (so the seeds are ``seed .. seed + episodes - 1``).
        max_steps: step limit per episode.
        modes: decoding modes to play, each a separate cell.
        env_kwargs: extra constructor kwargs.
    """

    env_id: str
    split: str
    domain: str
    seed: int = 0
    episodes: int = 20
    max_steps: int = 50
    modes: tuple[str, ...] = DECODING_MODES
    env_kwargs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.domain not in DOMAINS:
            raise InvalidConfigError(f"expected domain in {list(DOMAINS)}, got {self.domain!r}")
        bad = [m for m in self.modes if m not in DECODING_MODES]
        if bad or not self.modes:
            raise InvalidConfigError(f"expected modes in {list(DECODING_MODES)}, got {list(self.modes)}")
        if self.episodes < 1 or self.max_steps < 1:
            raise InvalidConfigError(
                f"expected episodes >= 1 and max_steps >= 1, got {self.episodes} and {self.max_steps}"
            )

    @property
    def seeds(self) -> list[int]:
        """The reset seeds of the entry's episodes."""
        return list(range(self.seed, self.seed + self.episodes))


@dataclass(frozen=True)
class Suite:
    """A named, versioned list of entries."""

    name: str
    version: int
    entries: tuple[SuiteEntry, ...]

    def config_hash(self, entry: SuiteEntry) -> str:
        """Short hash of the suite name, version and entry (12 hex chars)."""
        blob = json.dumps({"suite": self.name, "version": self.version, **asdict(entry)}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]


def _entries(*rows: tuple[str, str, str], episodes: int, max_steps: dict[str, int]) -> tuple[SuiteEntry, ...]:
    return tuple(
        SuiteEntry(env_id=e, split=s, domain=d, episodes=episodes, max_steps=max_steps[e]) for e, s, d in rows
    )


SUITES: dict[str, Suite] = {
    "default": Suite("default", 1, _entries(
        ("CoTDiag-ALFWorld-v0", "valid_seen", "id"),
        ("CoTDiag-ALFWorld-v0", "eval_ood_task_types", "ood"),
        ("CoTDiag-ScienceWorld-v0", "dev", "id"),
        ("CoTDiag-ScienceWorld-v0", "test_ood_task_types", "ood"),
        ("CoTDiag-BFCL-v0", "in_domain", "id"),
        ("CoTDiag-BFCL-v0", "ood_long_context", "ood"),
        episodes=20,
        max_steps={"CoTDiag-ALFWorld-v0": 50, "CoTDiag-ScienceWorld-v0": 100, "CoTDiag-BFCL-v0": 20},
    )),
    "smoke": Suite("smoke", 1, (
        SuiteEntry("CoTDiag-ALFWorld-v0", "valid_seen", "id", seed=4, episodes=1, max_steps=5),
        SuiteEntry("CoTDiag-ALFWorld-v0", "eval_ood_task_types", "ood", seed=4, episodes=1, max_steps=5),
    )),
}


def load_suite_file(path: str | Path) -> Suite:
    """Read a suite from a TOML or JSON file (see the module docstring).

    Raises:
        InvalidConfigError: unreadable file, unknown keys or invalid values.
    """
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text()) if path.suffix == ".toml" else json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise InvalidConfigError(f"cannot read suite file {path}: {e}") from e
    try:
        entries = tuple(
            SuiteEntry(**{**e, "modes": tuple(e.get("modes", DECODING_MODES))}) for e in data.get("entries", [])
        )
        suite = Suite(str(data.get("name", path.stem)), int(data.get("version", 1)), entries)
    except TypeError as e:
        raise InvalidConfigError(f"invalid suite file {path}: {e}") from e
    if not suite.entries:
        raise InvalidConfigError(f"suite file {path} has no [[entries]]")
    return suite


def get_suite(name_or_path: str) -> Suite:
    """A built-in suite by name, or a suite file by path.

    Raises:
        InvalidConfigError: neither a built-in suite nor an existing file (lists the built-ins).
    """
    if name_or_path in SUITES:
        return SUITES[name_or_path]
    if Path(name_or_path).is_file():
        return load_suite_file(name_or_path)
    raise InvalidConfigError(f"expected a suite in {sorted(SUITES)} or a suite file, got {name_or_path!r}")
