"""Per-episode JSONL records that survive a kill and resume without duplicates.

A run directory holds ``config.json`` (what the run is) and ``episodes.jsonl`` (one JSON object
per finished episode, appended, flushed and fsynced as it finishes). A line cut short by a kill is
dropped on the next open, so a resumed run neither loses nor duplicates an episode.

When the policy can replay its own steps (it has a ``replay`` method, e.g. a greedy
:class:`~cotdiag.agents.hf.HFPolicy`), the run also keeps ``steps.jsonl``: one line per step of the
episodes in flight (the action, the policy's stats and seconds, a hash of the next observation), so
a resumed run replays an interrupted episode up to where the kill stopped it instead of playing it
again from its reset (:func:`cotdiag.rollout.loop.play`). Lines of finished episodes are dropped on
the next open.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from cotdiag.error import InvalidConfigError, ResultsMismatchError

logger = logging.getLogger(__name__)


def _line(record: dict[str, Any]) -> str:
    """One JSONL line; written with :func:`_open_text`, a lone surrogate becomes its JSON escape."""
    return json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n"


def _open_text(path: Path, mode: str):
    return open(path, mode, encoding="utf-8", errors="backslashreplace")


def _append(path: Path, records: list[dict[str, Any]]) -> None:
    """Append ``records`` as JSONL lines to ``path``, flushed and fsynced once."""
    with _open_text(path, "a") as f:
        f.writelines(_line(r) for r in records)
        f.flush()
        os.fsync(f.fileno())


def _rewrite(path: Path, records: list[dict[str, Any]]) -> None:
    """Replace ``path`` atomically by ``records`` as JSONL lines (written beside it, then renamed)."""
    tmp = path.with_suffix(".tmp")
    with _open_text(tmp, "w") as f:
        f.writelines(_line(r) for r in records)
    os.replace(tmp, path)


class EpisodeLog:
    """Append-only store of episode records keyed by ``episode`` (int index).

    Args:
        run_dir: directory of the run (created if missing).
        config: JSON-serializable description of the run. When ``run_dir/config.json`` exists, its
            content must equal ``config`` on every key except those in ``resumable_keys``.
        resumable_keys: config keys allowed to change between a run and its resumption (e.g.
            ``"episodes"``: asking for more episodes extends the run).

    Raises:
        ResultsMismatchError: the directory holds a run with a different configuration.
    """

    FILENAME = "episodes.jsonl"
    STEPS = "steps.jsonl"

    def __init__(
        self, run_dir: str | os.PathLike, config: dict[str, Any], resumable_keys: tuple[str, ...] = ()
    ) -> None:
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.run_dir / self.FILENAME
        cfg_path = self.run_dir / "config.json"
        has_episodes = self.path.exists() and self.path.stat().st_size > 0
        if cfg_path.exists() and has_episodes:  # a folder with no episode is not a run to protect
            old = json.loads(cfg_path.read_text())
            diff = sorted(
                k for k in set(old) | set(config)
                if k not in resumable_keys and old.get(k) != config.get(k)
            )
            if diff:
                raise ResultsMismatchError(
                    f"{self.run_dir} holds a run with a different configuration (keys {diff}); "
                    "use another --out directory"
                )
        cfg_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
        self.records: dict[int, dict[str, Any]] = {}
        self._load()
        #: ``{episode: [step entry, ...]}``: the recorded steps (from step 0, in order) of episodes
        #: that a kill interrupted; see :meth:`append_steps`.
        self.in_flight: dict[int, list[dict[str, Any]]] = self._load_steps()

    def _load(self) -> None:
        if not self.path.exists():
            return
        raw = self.path.read_bytes()
        good: list[bytes] = []
        for line in raw.splitlines(keepends=True):
            try:
                rec = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError):  # cut mid-line, maybe mid-character
                logger.warning("dropping a truncated record in %s", self.path)
                continue
            if not line.endswith(b"\n"):
                line += b"\n"
            if rec["episode"] in self.records:
                continue
            self.records[rec["episode"]] = rec
            good.append(line)
        fixed = b"".join(good)
        if fixed != raw:
            tmp = self.path.with_suffix(".tmp")
            tmp.write_bytes(fixed)
            os.replace(tmp, self.path)

    def _load_steps(self) -> dict[int, list[dict[str, Any]]]:
        """Read ``steps.jsonl``: keep the contiguous steps of unfinished episodes, rewrite the file."""
        path = self.run_dir / self.STEPS
        if not path.exists():
            return {}
        steps: dict[int, list[dict[str, Any]]] = {}
        for line in path.read_bytes().splitlines():
            try:
                entry = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError):  # cut short by a kill
                continue
            ep = int(entry["episode"])
            if ep not in self.records and entry["step"] == len(steps.setdefault(ep, [])):
                steps[ep].append(entry)
        steps = {ep: s for ep, s in steps.items() if s}
        _rewrite(path, [e for ep in sorted(steps) for e in steps[ep]])
        return steps

    def append_steps(self, entries: list[dict[str, Any]]) -> None:
        """Append the step entries of one vector step (each holds int ``"episode"`` and ``"step"``,
        counted from 0) to ``steps.jsonl`` and fsync them once."""
        if entries:
            _append(self.run_dir / self.STEPS, entries)

    def retry_errors(self) -> int:
        """Set the records of failed episodes (non-null ``"error"``) aside so they run again.

        They move to ``episodes.errors.jsonl`` (appended, so no traceback is lost) and leave
        ``episodes.jsonl``; the file is rewritten atomically.

        Returns:
            The number of records set aside.
        """
        failed = [ep for ep, rec in self.records.items() if rec.get("error") is not None]
        if not failed:
            return 0
        _append(self.run_dir / "episodes.errors.jsonl", [self.records.pop(ep) for ep in sorted(failed)])
        _rewrite(self.path, self.sorted_records())
        logger.info("retrying %d failed episode(s) of %s", len(failed), self.path)
        return len(failed)

    def done(self, episode: int) -> bool:
        """Whether episode ``episode`` already has a record."""
        return episode in self.records

    def append(self, record: dict[str, Any]) -> None:
        """Append one record (must hold an int ``"episode"`` key) and fsync it.

        Text is written as UTF-8; a lone surrogate (possible in model output) is written as its JSON
        escape (``\\ud800``), so the line stays valid UTF-8 and reads back to the same string.
        """
        ep = int(record["episode"])
        if ep in self.records:
            raise InvalidConfigError(f"episode {ep} is already recorded in {self.path}")
        _append(self.path, [record])
        self.records[ep] = record

    def sorted_records(self) -> list[dict[str, Any]]:
        """All records ordered by episode index."""
        return [self.records[k] for k in sorted(self.records)]
