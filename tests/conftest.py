"""Shared test configuration: real ALFWorld data from $ALFWORLD_DATA (or ../shared)."""

from __future__ import annotations

import os
from pathlib import Path

_SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "alfworld"
if "ALFWORLD_DATA" not in os.environ and (_SHARED / "json_2.1.1").is_dir():
    os.environ["ALFWORLD_DATA"] = str(_SHARED)
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

