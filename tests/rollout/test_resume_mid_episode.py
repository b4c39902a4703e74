"""A killed run resumes its episodes in flight mid-way: the recorded steps (``steps.jsonl``) are
replayed on the env without asking the policy, then the policy acts again; the records equal those
of a run that was never killed (cotdiag.rollout.loop, EpisodeLog.in_flight)."""

from __future__ import annotations

import hashlib
import json

import pytest

from cotdiag.rollout import TIMING_KEYS, evaluate

ENV = "CoTDiag-ALFWorld-v0"
KW = dict(split="valid_seen", episodes=2, seed=3, max_episode_steps=6)


class HashPolicy:
    """Deterministic: the admissible action chosen by a hash of the observation and the call count
    (so a replay that forgot to advance the count would change the actions). Raises
    ``KeyboardInterrupt`` (a kill) at its ``kill_at``-th call, counted over all policies."""

    name = "hash"
    calls = 0
    kill_at: int | None = None

    def reset(self, seed=None):
        self.n = 0

    def replay(self, action):
        self.n += 1

    def act(self, observation, info):
        HashPolicy.calls += 1
        if HashPolicy.calls == HashPolicy.kill_at:
            raise KeyboardInterrupt
        self.n += 1
        options = sorted(info["admissible_actions"])
        h = int(hashlib.sha1(f"{observation}|{self.n}".encode()).hexdigest(), 16)
        return options[h % len(options)]


class NoReplayPolicy(HashPolicy):
    replay = None  # not callable: interrupted episodes play again from their reset


def _records(out):
    rows = [json.loads(x) for x in (out / "episodes.jsonl").read_text().splitlines()]
    return sorted(({k: v for k, v in r.items() if k not in TIMING_KEYS} for r in rows), key=lambda r: r["episode"])


def _steps(out):
    return [json.loads(x) for x in (out / "steps.jsonl").read_text().splitlines()]


@pytest.fixture
def killed_run(tmp_path):
    """An uninterrupted run and a run killed at the policy's 9th call (episode 1, step 2)."""
    HashPolicy.calls, HashPolicy.kill_at = 0, None
    evaluate(ENV, HashPolicy(), tmp_path / "whole", **KW)
    HashPolicy.calls, HashPolicy.kill_at = 0, 9
    with pytest.raises(KeyboardInterrupt):
        evaluate(ENV, HashPolicy(), tmp_path / "killed", **KW)
    HashPolicy.calls, HashPolicy.kill_at = 0, None
    return tmp_path / "whole", tmp_path / "killed"


def test_a_killed_episode_resumes_from_its_last_recorded_step(killed_run):
    whole, killed = killed_run
    first = _records(whole)[0]
    assert first["steps"] == 6 and len(_records(killed)) == 1  # episode 0 ended at the step limit
    in_flight = [e for e in _steps(killed) if e["episode"] == 1]
    assert [e["step"] for e in in_flight] == [0, 1]
    evaluate(ENV, HashPolicy(), killed, **KW)
    assert _records(killed) == _records(whole)
    assert HashPolicy.calls == _records(whole)[1]["steps"] - 2  # its two recorded steps were replayed, not acted
    assert [e["step"] for e in _steps(killed)] == list(range(6))  # the journal of episode 1, until the next open
    evaluate(ENV, HashPolicy(), killed, **KW)  # ... which drops the steps of finished episodes
    assert not (killed / "steps.jsonl").read_text()


def test_a_replay_that_diverges_fails_the_episode_then_plays_it_again(killed_run):
    whole, killed = killed_run
    lines = _steps(killed)
    lines[-1]["obs_sha1"] = "0" * 16  # the env no longer gives what was recorded
    (killed / "steps.jsonl").write_text("".join(json.dumps(e) + "\n" for e in lines))
    evaluate(ENV, HashPolicy(), killed, **KW)
    failed = _records(killed)[1]
    assert "replay diverged at step 1" in failed["error"] and not failed["success"]
    evaluate(ENV, HashPolicy(), killed, **KW)  # the failed record is set aside, the episode replays from its reset
    assert _records(killed) == _records(whole)


def test_a_policy_without_replay_keeps_no_step_journal(tmp_path):
    HashPolicy.calls, HashPolicy.kill_at = 0, 9
    with pytest.raises(KeyboardInterrupt):
        evaluate(ENV, NoReplayPolicy(), tmp_path, **KW)
    HashPolicy.kill_at = None
    assert not (tmp_path / "steps.jsonl").exists()
    evaluate(ENV, NoReplayPolicy(), tmp_path, **KW)
    assert len(_records(tmp_path)) == 2
