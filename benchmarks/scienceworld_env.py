"""CoTDiag-ScienceWorld-v0 vs the raw ``scienceworld.ScienceWorldEnv``, side by side in one run.

Timing: the same tasks and the same action sequences (the gold paths) on both, alternated task by
task so machine load affects both alike.

- raw: ``ScienceWorldEnv.load(task, variation, "easy")`` + ``reset()`` and ``step(action)``, the
  upstream API as documented (its ``step`` also fetches look, inventory, task description and the
  valid action list for its ``infos``);
- raw server calls: the three JVM calls any wrapper needs per step (``server.step``, ``getScore``,
  ``getCompleted``), i.e. the floor for a step, made on our env's own JVM (ABBA order with ours),
  so ``step_time_ratio_vs_server_calls`` is the overhead of our Python layer;
- ours: ``gym.make("CoTDiag-ScienceWorld-v0")`` (TimeLimit and Gymnasium's checkers included),
  expert on, admissible actions off (the default) and on.

Leak check: ``--resets`` resets (default 1,000, over distinct train tasks, ``expert=False`` so gold
path generation does not dominate) on one env, recording Python threads, java child processes,
open file descriptors and the JVM's resident memory before and after; then ``--cycles`` make/close
cycles, checking that each ``close()`` leaves no java process and no extra thread.

Writes ``benchmarks/results/scienceworld_env.json`` with ``step_time_ratio`` (ours / raw step,
goal <= 1.05), ``step_time_ratio_vs_server_calls``, reset times, the admissible-action cost and
the leak figures.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import platform
import pstats
import statistics
import threading
import time
from pathlib import Path

import gymnasium as gym

import cotdiag.envs  # noqa: F401
from cotdiag.envs.scienceworld import list_tasks

RESULTS = Path(__file__).parent / "results" / "scienceworld_env.json"
TASKS = ("find-animal/0", "lifespan-longest-lived/0", "test-conductivity/0", "chemistry-mix/0",
         "boil/0", "use-thermometer/0")


def _children_java() -> list[int]:
    me = os.getpid()
    pids = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{p}/cmdline", "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if int(fields[1]) == me and b"java" in cmd:
            pids.append(int(p))
    return pids


def _rss_mb(pid: int | None) -> float | None:
    if pid is None:
        return None
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return None


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def timing() -> dict:
    from scienceworld import ScienceWorldEnv as Raw

    t0 = time.perf_counter()
    raw = Raw(None, envStepLimit=10**9)
    raw_start = time.perf_counter() - t0
    ours = gym.make("CoTDiag-ScienceWorld-v0", split="train")
    t0 = time.perf_counter()
    ours.reset(options={"task_id": TASKS[0]})
    ours_first_reset_incl_jvm = time.perf_counter() - t0
    sim = ours.unwrapped

    raw_step, lean_step, ours_step, ours_adm_step, adm_cost, n_adm = [], [], [], [], [], []
    raw_reset, ours_reset, ours_reset_gold, ours_reset_noexpert = [], [], [], []
    python_layer: list[float] = []
    for tid in TASKS:
        name, var = tid.split("/")
        # ours, first reset (gold path generation) then a repeated one (gold path cached)
        t0 = time.perf_counter()
        _, info = ours.reset(options={"task_id": tid})
        ours_reset_gold.append(time.perf_counter() - t0)
        gold = []  # the gold actions up to the win (gold paths often end with spare actions)
        while True:
            gold.append(info["expert_action"])
            *_, term, trunc, info = ours.step(gold[-1])
            if term or trunc:
                break
        t0 = time.perf_counter()
        ours.reset(options={"task_id": tid})
        ours_reset.append(time.perf_counter() - t0)
        sim.expert = False
        t0 = time.perf_counter()
        ours.reset(options={"task_id": tid})
        ours_reset_noexpert.append(time.perf_counter() - t0)
        sim.expert = True
        # raw reset: load + reset, as upstream documents
        t0 = time.perf_counter()
        raw.load(name, int(var), "easy")
        raw.reset()
        raw_reset.append(time.perf_counter() - t0)
        for a in gold:
            t0 = time.perf_counter()
            raw.step(a)
            raw_step.append(time.perf_counter() - t0)
        # ours vs the bare server calls on the same JVM (ours'), in ABBA order against drift
        for block in ("warmup", "ours", "lean", "lean", "ours", "ours", "lean"):
            ours.reset(options={"task_id": tid})
            server = sim._jvm.raw.server
            for a in gold:
                t0 = time.perf_counter()
                if block == "ours":
                    ours.step(a)
                else:
                    server.step(a)
                    server.getScore()
                    server.getCompleted()
                dt = time.perf_counter() - t0
                if block != "warmup":
                    (ours_step if block == "ours" else lean_step).append(dt)
        # our Python layer alone: profile one ours block, subtract the time inside py4j calls
        ours.reset(options={"task_id": tid})
        prof = cProfile.Profile()
        prof.enable()
        for a in gold:
            ours.step(a)
        prof.disable()
        stats = pstats.Stats(prof).stats  # type: ignore[attr-defined]
        total = sum(v[2] for v in stats.values())
        in_py4j = sum(v[3] for k, v in stats.items() if k[2] == "send_command" and "java_gateway" in k[0]
                      and k[1] > 1100)  # GatewayConnection.send_command: the socket round trip
        python_layer.append((total - in_py4j) / len(gold))
        # enumeration cost alone, in the same states
        raw.load(name, int(var), "easy")
        raw.server.step("look around")
        for a in gold:
            raw.server.step(a)
            t0 = time.perf_counter()
            n_adm.append(len(raw.get_valid_action_object_combinations()))
            adm_cost.append(time.perf_counter() - t0)
        sim.enumerate_admissible = True
        ours.reset(options={"task_id": tid})
        for a in gold:
            t0 = time.perf_counter()
            ours.step(a)
            ours_adm_step.append(time.perf_counter() - t0)
        sim.enumerate_admissible = False
        print(f"{tid}: {len(gold)} actions", flush=True)
    ours.close()
    raw.close()
    ms = lambda xs: 1000 * statistics.mean(xs)  # noqa: E731
    med = lambda xs: 1000 * statistics.median(xs)  # noqa: E731
    return {
        "tasks": list(TASKS),
        "steps_timed": len(ours_step),
        "load_avg_during": os.getloadavg()[0],
        "jvm_start_s": round(raw_start, 3),
        "ours_first_reset_incl_jvm_start_s": round(ours_first_reset_incl_jvm, 3),
        "step_time_ms_raw": ms(raw_step),
        "step_time_ms_raw_server_calls": ms(lean_step),
        "step_time_ms_ours": ms(ours_step),
        "step_time_ms_ours_admissible": ms(ours_adm_step),
        "step_time_ratio": ms(ours_step) / ms(raw_step),
        "step_time_ratio_median": med(ours_step) / med(raw_step),
        "step_time_ratio_vs_server_calls": ms(ours_step) / ms(lean_step),
        "step_time_ratio_vs_server_calls_median": med(ours_step) / med(lean_step),
        "python_layer_ms_per_step_profiled": ms(python_layer),
        "step_time_ratio_admissible": ms(ours_adm_step) / ms(raw_step),
        "admissible_enumeration_ms": ms(adm_cost),
        "admissible_actions_per_state": statistics.mean(n_adm),
        "admissible_share_of_raw_step": ms(adm_cost) / ms(raw_step),
        "admissible_over_ours_step": ms(adm_cost) / ms(ours_step),
        "reset_time_s_raw": statistics.mean(raw_reset),
        "reset_time_s_ours": statistics.mean(ours_reset),
        "reset_time_s_ours_first_with_gold_path": statistics.mean(ours_reset_gold),
        "reset_time_s_ours_no_expert": statistics.mean(ours_reset_noexpert),
    }


def leak(resets: int, cycles: int) -> dict:
    ids = list_tasks("train")
    step = max(1, len(ids) // resets)
    plan = [ids[(i * step) % len(ids)] for i in range(resets)]
    threads0, fds0, java0 = threading.active_count(), _fds(), _children_java()
    env = gym.make("CoTDiag-ScienceWorld-v0", split="train", expert=False)
    env.reset(options={"task_id": plan[0]})
    pid = env.unwrapped.jvm_pid
    after_first = {"threads": threading.active_count(), "fds": _fds(), "java": len(_children_java()),
                   "jvm_rss_mb": _rss_mb(pid)}
    rss_checkpoints: dict[str, dict] = {}
    t0 = time.perf_counter()
    for i, tid in enumerate(plan):
        env.reset(options={"task_id": tid})
        env.step("look around")
        if (i + 1) % 250 == 0:
            rss_checkpoints[str(i + 1)] = {"jvm_rss_mb": _rss_mb(pid), "threads": threading.active_count(),
                                           "fds": _fds()}
            print(f"{i + 1} resets, jvm rss {_rss_mb(pid):.0f} MB, threads {threading.active_count()}", flush=True)
    elapsed = time.perf_counter() - t0
    after_all = {"threads": threading.active_count(), "fds": _fds(), "java": len(_children_java()),
                 "jvm_rss_mb": _rss_mb(pid), "same_jvm_pid": env.unwrapped.jvm_pid == pid}
    env.close()
    after_close = {"threads": threading.active_count(), "fds": _fds(), "java": len(_children_java())}
    cyc = []
    for _ in range(cycles):
        e = gym.make("CoTDiag-ScienceWorld-v0", split="train", expert=False)
        e.reset(options={"task_id": "find-animal/0"})
        e.close()
        cyc.append({"threads": threading.active_count(), "fds": _fds(), "java": len(_children_java())})
    return {
        "resets": resets,
        "reset_time_s_mean_no_expert": elapsed / resets,
        "baseline": {"threads": threads0, "fds": fds0, "java": len(java0)},
        "after_first_reset": after_first,
        "after_all_resets": after_all,
        "after_close": after_close,
        "make_close_cycles": cyc,
        "thread_leak": after_all["threads"] - after_first["threads"],
        "fd_leak": after_all["fds"] - after_first["fds"],
        "java_processes_after_close": after_close["java"] + sum(c["java"] for c in cyc),
        "threads_after_cycles_minus_baseline": (cyc[-1]["threads"] if cyc else after_close["threads"]) - threads0,
        "jvm_rss_growth_mb": (after_all["jvm_rss_mb"] or 0) - (after_first["jvm_rss_mb"] or 0),
        "checkpoints": rss_checkpoints,
        "jvm_max_heap": env.unwrapped._jvm.max_heap,
        "note": "JVM resident memory grows while the heap expands up to jvm_max_heap (the env's "
                "default cap; None: Java's default, a quarter of RAM) and then stays flat; compare "
                "the checkpoints after 250 resets.",
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--resets", type=int, default=1000, help="resets of the leak check")
    ap.add_argument("--cycles", type=int, default=5, help="make/close cycles of the leak check")
    args = ap.parse_args()
    out = {"env_id": "CoTDiag-ScienceWorld-v0", "machine": platform.machine(), "cpus": os.cpu_count(),
           "load_avg_at_start": os.getloadavg()[0]}
    out["timing"] = timing()
    out["step_time_ratio"] = out["timing"]["step_time_ratio"]
    out["leak"] = leak(args.resets, args.cycles)
    out["load_avg_at_end"] = os.getloadavg()[0]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
