"""Tests of ``CoTDiag-ScienceWorld-v0`` on the real ScienceWorld simulator (one shared JVM).

The full sweeps (gold path on variation 0 of all 30 task types, 1,000 resets without leaks, timing
against the raw simulator) are in ``benchmarks/scienceworld_*.py``; here a small sample keeps the
file fast.
"""

from __future__ import annotations

import json
import os
import signal
import time

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env

import cotdiag.envs  # noqa: F401  (registers the ids)
from cotdiag.agents.expert import ExpertPolicy
from cotdiag.agents.random import RandomPolicy
from cotdiag.envs.scienceworld import OOD_TASK_TYPES, TASK_TYPES, ScienceWorldEnv, list_tasks
from cotdiag.envs.scienceworld.simulator import DEFAULT_MAX_HEAP
from cotdiag.envs.scienceworld.splits import VARIATIONS, variations
from cotdiag.error import InvalidConfigError, SimulatorError
from cotdiag.rollout import evaluate
from cotdiag.testing import check_text_env, rollout

ENV_ID = "CoTDiag-ScienceWorld-v0"
#: Short gold paths (<= 13 actions on variation 0), one per topic group where possible.
SAMPLE = ("find-animal/0", "lifespan-longest-lived/0", "test-conductivity/0")


@pytest.fixture(scope="module")
def env():
    """The registered env with the expert (gold paths are computed on each task's first reset)."""
    e = gym.make(ENV_ID, split="train")
    yield e
    e.close()


@pytest.fixture(scope="module")
def fast_env():
    """No expert (fast loads), admissible actions on: for the checks that reset many tasks."""
    e = gym.make(ENV_ID, split="train", expert=False, admissible_actions=True)
    yield e
    e.close()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(pid, 0): check it is not a reaped-later child.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


# ------------------------------------------------------------------ splits (no JVM)
def test_splits():
    assert len(TASK_TYPES) == 30
    assert len(OOD_TASK_TYPES) == 10
    assert "find-animal" in OOD_TASK_TYPES and "boil" not in OOD_TASK_TYPES
    train, train_id = set(list_tasks("train")), set(list_tasks("train_id"))
    ood = set(list_tasks("test_ood_task_types"))
    assert train_id < train and not ood & train
    test_id = set(list_tasks("test_id"))
    assert test_id < set(list_tasks("test")) and not test_id & train_id and not test_id & ood
    assert {t.split("/")[0] for t in test_id} == {t.split("/")[0] for t in train_id}
    assert {t.split("/")[0] for t in train_id}.isdisjoint(OOD_TASK_TYPES)
    assert {t.split("/")[0] for t in ood} == set(OOD_TASK_TYPES)
    assert set(list_tasks("test")) >= ood
    with pytest.raises(InvalidConfigError, match="expected split"):
        list_tasks("nope")
    with pytest.raises(InvalidConfigError, match="expected split"):
        ScienceWorldEnv(split="nope")
    with pytest.raises(InvalidConfigError, match="expected simplification"):
        ScienceWorldEnv(simplification="hard")


def test_split_table_matches_simulator(fast_env):
    sim = fast_env.unwrapped
    sim.reset(options={"task_id": SAMPLE[0]})
    raw = sim._jvm.raw
    for name in ("boil", "find-animal", "mendelian-genetics-unknown-plant"):
        raw.load(name, 0, "easy")
        assert raw.get_max_variations(name) == VARIATIONS[name][0]
        for part, getter in (("train", raw.get_variations_train), ("dev", raw.get_variations_dev),
                             ("test", raw.get_variations_test)):
            assert sorted(getter()) == list(variations(name, part)), (name, part)


def test_expert_pointer_rules():
    """No JVM: the gold pointer advances on gold actions (even rejected ones), stops on others."""
    e = ScienceWorldEnv(split="train")
    e._gold, e._gold_pos = ["open door", "0", "go"], 0
    e._advance_expert("open door", False)
    e._advance_expert("xyzzy", True)  # rejected non-gold action: state and expert unchanged
    assert e._expert_action(False) == "0"
    e._advance_expert("0", True)  # gold menu answer rejected by the simulator: still consumed
    assert e._expert_action(False) == "go"
    assert e._expert_action(True) is None  # episode over
    e._advance_expert("look around", False)  # accepted non-gold action: off the gold path
    assert e._expert_action(False) is None
    assert e.jvm_pid is None  # nothing started


# ------------------------------------------------------------------ API checks
def test_check_env(fast_env):
    check_env(fast_env.unwrapped)


def test_check_text_env(env):
    check_text_env(env, expert_steps=200)


def test_seeded_rollouts_are_deterministic(fast_env):
    for seed in (7, 8):
        a = rollout(fast_env, seed, max_steps=8)  # plays the first admissible action
        b = rollout(fast_env, seed, max_steps=8)
        assert a == b
    a = fast_env.reset(seed=7)
    assert a[1]["task_id"] in set(list_tasks("train"))
    assert a[0].startswith("Task Description:")


def test_task_id_reset_and_info(env):
    obs, info = env.reset(options={"task_id": "boil/3"})
    assert info["task_id"] == "boil/3" and info["task_type"] == "boil"
    assert info["task"].startswith("Your task is to boil")
    assert info["admissible_actions"] is None  # opt-in
    assert isinstance(info["scienceworld/score_100"], int)
    with pytest.raises(KeyError):
        env.reset(options={"task_id": "boil/25"})  # a test variation, not in train


@pytest.mark.parametrize("task_id", SAMPLE)
def test_expert_wins(env, task_id):
    obs, info = env.reset(options={"task_id": task_id})
    total = 0.0
    initial = info["score"]
    for _ in range(50):
        obs, r, term, trunc, info = env.step(info["expert_action"])
        total += r
        if term:
            break
    assert info["won"] and info["score"] == 1.0
    assert info["expert_action"] is None
    assert total == pytest.approx(1.0 - initial)


def test_expert_none_after_deviation_and_loss(env):
    obs, info = env.reset(options={"task_id": "find-animal/0"})
    # A rejected action keeps the expert; an accepted non-gold one ends it.
    _, _, _, _, info2 = env.step("xyzzy")
    assert info2["invalid_action"] and info2["expert_action"] == info["expert_action"]
    _, _, term, _, info3 = env.step("look around")
    assert not info3["invalid_action"] and info3["expert_action"] is None and not term
    # Focusing on the wrong object fails the task: terminated, not won, score 0.
    _, r, term, _, info4 = env.step("focus on air")
    assert term and not info4["won"] and info4["score"] == 0.0
    assert info4["scienceworld/score_100"] < 0
    assert r == pytest.approx(-info3["score"])


BAD_ACTIONS = [
    "",
    "   ",
    "a" * 100_000,
    "x" * 100_001,  # over the action space's max_length: never reaches the simulator
    "\x00\x01\x02\xff\xfe binary",
    "\ud800 lone surrogate",
    "open door to (kitchen",
    "))]]}",
    '__import__("os").system("touch /tmp/cotdiag_pwned")',
    "().__class__.__bases__",
    "look around\nfocus on air",
    "\\n e \\",
]


def test_bad_actions_are_recorded_invalid(env):
    obs, info = env.reset(options={"task_id": "find-animal/0"})
    for action in BAD_ACTIONS:
        obs2, r, term, trunc, info2 = env.step(action)
        assert info2["invalid_action"], action[:40]
        assert r == 0.0 and not term
        assert info2["score"] == info["score"] and info2["expert_action"] == info["expert_action"]
    assert not os.path.exists("/tmp/cotdiag_pwned")
    # The state is untouched: the gold path still wins.
    while not info2["won"]:
        _, _, term, _, info2 = env.step(info2["expert_action"])
        assert not info2["invalid_action"]
    assert info2["step"] == len(BAD_ACTIONS) + 10


def test_admissible_actions_opt_in(fast_env):
    _, info = fast_env.reset(options={"task_id": "find-animal/0"})
    adm = info["admissible_actions"]
    assert info["expert_action"] is None  # expert=False
    assert len(adm) > 100 and adm == sorted(adm) and "look around" in adm
    _, _, _, _, info = fast_env.step("xyzzy")
    assert info["invalid_action"] and info["admissible_actions"] == adm
    _, _, _, _, info = fast_env.step("open door to kitchen")
    assert "go to kitchen" in info["admissible_actions"]


# ------------------------------------------------------------------ JVM death
def _stdin_of(env) -> object:
    return env.unwrapped._jvm.raw._gateway.java_process.stdin


def test_jvm_death_raises_simulator_error_and_reset_recovers():
    """SIGKILL, not waiting for the process to go: py4j's reaper thread holds the ``Popen`` lock,
    so ``poll()`` still says alive. Repeated for the race: ``step`` raises ``SimulatorError``
    (never ``BrokenPipeError``), the next ``reset`` starts a fresh JVM, and so does a ``reset``
    right after a death between episodes."""
    e = gym.make(ENV_ID, split="train")
    old_pids: list[int] = []
    pid = None
    try:
        _, info = e.reset(options={"task_id": "find-animal/0"})
        e.step(info["expert_action"])
        for i in range(5):
            pid = e.unwrapped.jvm_pid
            old_pids.append(pid)
            if i == 0:  # a newline buffered on stdin (as ScienceWorld's close() writes) must not
                _stdin_of(e).write(b"\n")  # surface as BrokenPipeError when the pipes close
            os.kill(pid, signal.SIGKILL)
            with pytest.raises(SimulatorError, match="died"):
                e.step("look around")
            with pytest.raises(SimulatorError, match="reset"):
                e.step("look around")
            assert not _pid_alive(pid)  # reaped, no zombie
            e.reset(options={"task_id": "find-animal/0"})
            pid = e.unwrapped.jvm_pid
            assert pid not in (None, *old_pids)
            old_pids.append(pid)
            os.kill(pid, signal.SIGKILL)  # between episodes: the next reset recovers at once
            _, info = e.reset(options={"task_id": "find-animal/0"})
            assert e.unwrapped.jvm_pid not in (None, *old_pids)
        while not info["won"]:
            _, _, _, _, info = e.step(info["expert_action"])
        pid = e.unwrapped.jvm_pid
        os.kill(pid, signal.SIGKILL)  # close() right after a death: quiet, and the JVM is reaped
        e.close()
    finally:
        pid = e.unwrapped.jvm_pid or pid
        e.close()
    assert not any(_pid_alive(p) for p in (*old_pids, pid) if p is not None)


def test_frozen_jvm_times_out_and_reset_recovers():
    """SIGSTOP mid-episode and between episodes: ``SimulatorError`` naming the budget within
    ``simulator_timeout_s``, the frozen JVM is killed, and ``reset`` runs on a fresh one."""
    timeout_s = 3.0
    e = gym.make(ENV_ID, split="train", expert=False, simulator_timeout_s=timeout_s)
    stopped = []
    try:
        e.reset(options={"task_id": "find-animal/0"})
        pid = e.unwrapped.jvm_pid
        stopped.append(pid)
        os.kill(pid, signal.SIGSTOP)
        t0 = time.monotonic()
        with pytest.raises(SimulatorError, match="simulator_timeout_s=3 s"):
            e.step("look around")
        assert timeout_s <= time.monotonic() - t0 < timeout_s + 10
        assert not _pid_alive(pid)  # SIGKILL ends a stopped process; it was reaped
        with pytest.raises(SimulatorError, match="reset"):
            e.step("look around")
        e.reset(options={"task_id": "find-animal/0"})
        pid = e.unwrapped.jvm_pid
        assert pid not in (None, *stopped)
        stopped.append(pid)
        os.kill(pid, signal.SIGSTOP)  # between episodes: reset times out once, then a fresh JVM
        t0 = time.monotonic()
        _, info = e.reset(options={"task_id": "find-animal/0"})
        assert timeout_s <= time.monotonic() - t0 < timeout_s + 30
        assert e.unwrapped.jvm_pid not in (None, *stopped) and not _pid_alive(pid)
        _, _, _, _, info = e.step("look around")
        assert not info["invalid_action"]
    finally:
        e.unwrapped._jvm.kill()  # never leave a stopped JVM behind, even if an assertion failed
        e.close()
    assert not any(_pid_alive(p) for p in stopped)


def test_jvm_max_heap_caps_the_simulator_heap(fast_env):
    # the default cap
    fast_env.reset(options={"task_id": SAMPLE[0]})
    heap = fast_env.unwrapped._jvm.max_heap_bytes()
    assert heap is not None and heap <= _bytes(DEFAULT_MAX_HEAP)
    e = gym.make(ENV_ID, split="train", jvm_max_heap="256m")
    try:
        _, info = e.reset(options={"task_id": "find-animal/0"})
        heap = e.unwrapped._jvm.max_heap_bytes()
        assert heap is not None and 64 * 2**20 < heap <= 256 * 2**20
        assert "JAVA_TOOL_OPTIONS" not in os.environ or "-Xmx256m" not in os.environ["JAVA_TOOL_OPTIONS"]
        while not info["won"]:
            _, _, _, _, info = e.step(info["expert_action"])
    finally:
        e.close()
    for bad in ({"jvm_max_heap": "lots"}, {"simulator_timeout_s": 0}, {"simulator_timeout_s": -1},
                {"simulator_timeout_s": float("nan")}, {"simulator_timeout_s": "60"}):
        with pytest.raises(InvalidConfigError):
            gym.make(ENV_ID, **bad)


def _bytes(size: str) -> int:
    """``java -Xmx`` size (``"512m"``) in bytes."""
    unit = {"k": 2**10, "m": 2**20, "g": 2**30}.get(size[-1].lower(), 1)
    return int(size.rstrip("kKmMgG")) * unit


# ------------------------------------------------------------------ evaluate runner
@pytest.mark.parametrize("policy", ["expert", "random"])
def test_evaluate(policy, tmp_path):
    pol = ExpertPolicy() if policy == "expert" else RandomPolicy(seed=0)
    summary = evaluate(
        ENV_ID,
        pol,
        tmp_path,
        split="test_ood_task_types",
        episodes=2,
        seed=7,  # two find-animal variations: short gold paths
        env_kwargs={"admissible_actions": policy == "random"},
        max_episode_steps=200 if policy == "expert" else 5,
    )
    assert summary["episodes"] == 2 and summary["errors"] == 0
    if policy == "expert":
        assert summary["success_rate"] == 1.0
    records = [json.loads(line) for line in (tmp_path / "episodes.jsonl").read_text().splitlines()]
    assert len(records) == 2 and all(r["error"] is None for r in records)
