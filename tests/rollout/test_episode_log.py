"""``EpisodeLog``: records cut inside a UTF-8 character and lone surrogates in model output."""

from __future__ import annotations

import json

from cotdiag.rollout.episode_log import EpisodeLog


def test_record_cut_inside_a_multibyte_character_is_dropped(tmp_path):
    log = EpisodeLog(tmp_path, {"a": 1})
    log.append({"episode": 0, "action": "café"})
    line = json.dumps({"episode": 1, "action": "café ☕"}, ensure_ascii=False).encode()
    with open(log.path, "ab") as f:
        f.write(line[: line.index("☕".encode()) + 1])  # a kill mid-write, inside the 3-byte character
    again = EpisodeLog(tmp_path, {"a": 1})
    assert [r["episode"] for r in again.sorted_records()] == [0]
    again.append({"episode": 1, "action": "café ☕"})
    assert [r["action"] for r in EpisodeLog(tmp_path, {"a": 1}).sorted_records()] == ["café", "café ☕"]


def test_lone_surrogate_round_trips(tmp_path):
    log = EpisodeLog(tmp_path, {"a": 1})
    log.append({"episode": 0, "action": "ls(a=True)\ud800", "reasoning": "ok ☕"})
    log.path.read_bytes().decode("utf-8")  # valid UTF-8 on disk
    rec = EpisodeLog(tmp_path, {"a": 1}).sorted_records()[0]
    assert rec["action"] == "ls(a=True)\ud800" and rec["reasoning"] == "ok ☕"
