"""Stage bookkeeping of a diagnose run: progress with counts and ETA, and per-stage results on disk.

A diagnose run is a sequence of stages (offline, faithfulness, conflicting, attribution, online) per
model. :class:`StageStore` writes each stage's summary and records to
``OUT/stages/<model>/<stage>.json`` as soon as the stage finishes, so a killed run, rerun with the
same command, loads the finished stages and runs only the rest. The store refuses a folder written
under another configuration (:class:`~cotdiag.error.ResultsMismatchError`), like ``evaluate``'s
episode log. :class:`StageProgress` counts the model calls (prompts completed or scored) of one
stage and reports ``done/planned``, elapsed time and an ETA.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from cotdiag.diagnostics.prefill import PrefillModel
from cotdiag.diagnostics.report import json_default
from cotdiag.error import ResultsMismatchError

logger = logging.getLogger(__name__)

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def states_digest(states: Sequence[Mapping[str, Any]]) -> str:
    """SHA-256 (hex, first 16 digits) of the states' prompts and expert actions, in order."""
    h = hashlib.sha256()
    for s in states:
        h.update(json.dumps([s.get("prompt"), s.get("action"), s.get("task_id")], default=str).encode())
    return h.hexdigest()[:16]


class StageStore:
    """Finished stages of a diagnose run, one JSON file each, under ``root``.

    Args:
        root: the folder (``OUT/stages``), created if missing.
        fingerprint: JSON-ready description of everything that determines the results (models,
            env, split, seeds, data digest, diagnose config, generation settings, package versions).

    Raises:
        ResultsMismatchError: ``root`` holds finished stages of a run with another fingerprint.
    """

    def __init__(self, root: str | os.PathLike, fingerprint: Mapping[str, Any]) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        fp = json.loads(json.dumps(fingerprint, sort_keys=True, default=str))
        cfg = self.root / "config.json"
        if cfg.exists() and any(self.root.glob("*/*.json")):  # a folder with no finished stage is not a run to protect
            old = json.loads(cfg.read_text())
            diff = sorted(k for k in set(old) | set(fp) if old.get(k) != fp.get(k))
            if diff:
                raise ResultsMismatchError(
                    f"{self.root} holds diagnose stages of a different configuration (keys {diff}); "
                    "use another --out directory"
                )
        cfg.write_text(json.dumps(fp, indent=2, sort_keys=True) + "\n")

    def path(self, model: str, stage: str) -> Path:
        """``root/<model>/<stage>.json`` (model names made filesystem-safe)."""
        return self.root / (_SAFE.sub("_", model) or "model") / f"{stage}.json"

    def get(self, model: str, stage: str) -> dict[str, Any] | None:
        """The stored payload of a finished stage, or ``None`` (never run, or cut mid-write)."""
        p = self.path(model, stage)
        if not p.exists():
            return None
        try:
            return json.loads(p.read_text())
        except json.JSONDecodeError:
            logger.warning("ignoring a truncated stage file %s", p)
            return None

    def put(self, model: str, stage: str, payload: Mapping[str, Any]) -> Path:
        """Write a finished stage atomically (temporary file, then ``os.replace``); returns its path."""
        p = self.path(model, stage)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_suffix(".tmp")
        tmp.write_text(json.dumps(payload, default=json_default) + "\n")
        os.replace(tmp, p)
        return p


class StageProgress:
    """Counts one stage's model calls and reports them through ``say``.

    Args:
        stage: the stage name shown.
        planned: the planned number of model calls (prompts completed plus continuations scored),
            or ``None`` when it depends on the model's outputs (then no ETA is shown).
        say: called with one line, at most every ``every_s`` seconds and once at the end.
        every_s: minimum seconds between lines.
    """

    def __init__(self, stage: str, planned: int | None, say: Callable[[str], None], every_s: float = 10.0) -> None:
        self.stage, self.planned, self.say, self.every_s = stage, planned, say, every_s
        self.done = 0
        self.t0 = time.perf_counter()
        self._last = self.t0

    def add(self, n: int) -> None:
        """Count ``n`` more model calls; report when ``every_s`` has passed since the last line."""
        self.done += n
        now = time.perf_counter()
        if now - self._last >= self.every_s:
            self._last = now
            self.say(self.line())

    def line(self) -> str:
        """``"offline: 16/100 model calls, 40 s, ETA 3.5 min"`` (no ETA without a plan)."""
        el = time.perf_counter() - self.t0
        head = f"{self.stage}: {self.done}" + (f"/{self.planned}" if self.planned else "") + f" model calls, {el:.0f} s"
        if self.planned and 0 < self.done < self.planned:
            return head + f", ETA {_minutes(el / self.done * (self.planned - self.done))}"
        return head

    def wrap(self, model: PrefillModel) -> PrefillModel:
        """The same model, counting every prompt it completes or scores."""

        def complete(prompts: Sequence[str], prefills: Sequence[str]) -> list[str]:
            out = model.complete(prompts, prefills)
            self.add(len(prompts))
            return out

        score = None
        if model.score is not None:

            def score(prompts: Sequence[str], prefills: Sequence[str], conts: Sequence[str]) -> list[float]:
                out = model.score(prompts, prefills, conts)  # type: ignore[misc]
                self.add(len(prompts))
                return out

        return PrefillModel(complete=complete, score=score, fmt=model.fmt, name=model.name)


def _minutes(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"
