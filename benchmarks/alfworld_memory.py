"""CoTDiag-ALFWorld-v0 resident memory over many resets on distinct games (issue #12 item 15).

One env (``gym.make("CoTDiag-ALFWorld-v0")``, default kwargs: fast reset and handcoded expert on)
is reset ``--resets`` times (default 1,000), each time on the next game of one list: the train
split, then valid_seen, then valid_unseen (874 distinct games with the shared data), cycling
when it is exhausted. The three splits are put behind one env through a temporary folder of
symlinks (``json_2.1.1/train/<task>/<trial>`` -> the real trial folder), so no second engine is
started mid-run.

Each variant runs in its own process (RSS is per process), one after the other:

- ``fixed``: the env as shipped (drops TextWorld's fact intern cache on each game switch,
  :mod:`cotdiag.envs.alfworld.memory`);
- ``unfixed``: the same with ``release_interned_facts`` patched to a no-op, i.e. the behaviour
  before the fix, over the first ``--unfixed-resets`` games (default 300; 0 skips it).

Phases (``--phases``, default both): ``series`` runs the two variants one after the other and
records the memory series; ``ab`` times ``--ab-resets`` resets (default 60) of both variants on the
same games in two processes run at the same time, so machine load (2 shared cores here) hits both
alike; the sequential series' reset times are not comparable across variants. A phase not run
keeps its keys from an existing output file.

Writes ``benchmarks/results/alfworld_memory.json`` with, per variant, the RSS series (``VmRSS`` in
MB after the first reset and every ``--every`` resets), the intern cache size and the number of
gc-tracked objects at the same points, the least-squares RSS slope in MB per 100 resets over the
second half of the run (``slope_mb_per_100_resets_second_half``; goal: about 0), and the reset
times in seconds (``timing_ab``: fixed / unfixed mean reset time, goal <= 1.05, and the time spent
dropping the cache); plus the package versions and the machine load.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "alfworld_memory.json"
SPLIT_ORDER = ("train", "valid_seen", "valid_unseen")
PACKAGES = ("textworld", "alfworld", "fast_downward_textworld", "mementos", "gymnasium", "psutil")
logger = logging.getLogger("alfworld_memory")


def rss_mb() -> float:
    """Resident set size of this process (``VmRSS``), in MB (2**20 bytes)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def build_union(folder: Path) -> list[str]:
    """Symlink every game of ``SPLIT_ORDER`` under ``folder/json_2.1.1/train``.

    Returns:
        The task ids in play order (train, valid_seen, valid_unseen), without duplicates.
    """
    from cotdiag.envs.alfworld.data import list_games, split_dir

    dest = folder / "json_2.1.1" / "train"
    order: list[str] = []
    for split in SPLIT_ORDER:
        root = split_dir(split)
        for tid in list_games(split):
            link = dest / tid
            if link.exists():
                continue
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(root / tid, target_is_directory=True)
            order.append(tid)
    return order


def slope_per_100(points: list[tuple[int, float]]) -> float | None:
    """Least-squares slope of ``(reset, MB)`` points, in MB per 100 resets (None if < 2 points)."""
    if len(points) < 2:
        return None
    return 100 * statistics.linear_regression([p[0] for p in points], [p[1] for p in points]).slope


def worker(variant: str, data: Path, order: list[str], resets: int, every: int) -> dict:
    """Run ``resets`` resets in this process and return the series (see the module docstring)."""
    import gymnasium as gym

    import cotdiag  # noqa: F401
    import cotdiag.envs.alfworld.env as alfworld_env
    from cotdiag.envs.alfworld.memory import interned_fact_count

    release_times: list[float] = []
    release = alfworld_env.release_interned_facts

    def timed_release() -> int:
        t0 = time.perf_counter()
        dropped = release()
        release_times.append(time.perf_counter() - t0)
        return dropped

    alfworld_env.release_interned_facts = (lambda: 0) if variant == "unfixed" else timed_release
    env = gym.make("CoTDiag-ALFWorld-v0", split="train", data_path=str(data))
    series, times = [], []
    for i in range(resets):
        t0 = time.perf_counter()
        env.reset(seed=i, options={"task_id": order[i % len(order)]})
        times.append(time.perf_counter() - t0)
        if i == 0 or (i + 1) % every == 0:
            series.append({"reset": i + 1, "rss_mb": round(rss_mb(), 2),
                           "interned_facts": interned_fact_count(), "gc_objects": len(gc.get_objects())})
            logger.info("%s: %s", variant, series[-1])
    env.close()
    second_half = [(p["reset"], p["rss_mb"]) for p in series if p["reset"] > resets // 2]
    return {
        "resets": resets,
        "distinct_games": min(resets, len(order)),
        "rss_mb_first_reset": series[0]["rss_mb"],
        "rss_mb_last": series[-1]["rss_mb"],
        "slope_mb_per_100_resets_second_half": slope_per_100(second_half),
        "slope_mb_per_100_resets_all": slope_per_100([(p["reset"], p["rss_mb"]) for p in series]),
        "reset_time_s_mean": statistics.fmean(times[1:]) if len(times) > 1 else times[0],
        "reset_time_s_median": statistics.median(times[1:]) if len(times) > 1 else times[0],
        "reset_time_s_first": times[0],
        "release_ms_mean": 1000 * statistics.fmean(release_times) if release_times else None,
        "reset_times_s": [round(t, 4) for t in times],
        "series": series,
    }


def start_variant(variant: str, data: Path, order_file: Path, resets: int, every: int) -> subprocess.Popen:
    """Start :func:`worker` in a fresh Python process (its log goes to our stderr)."""
    cmd = [sys.executable, __file__, "--worker", variant, "--data", str(data), "--order", str(order_file),
           "--resets", str(resets), "--every", str(every)]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)


def result_of(proc: subprocess.Popen) -> dict:
    """Wait for a worker started by :func:`start_variant` and return its result."""
    out, _ = proc.communicate()
    if proc.returncode:
        raise RuntimeError(f"worker {proc.args} exited with {proc.returncode}")
    return json.loads(out.strip().splitlines()[-1])


def series_phase(data: Path, order_file: Path, resets: int, unfixed_resets: int, every: int) -> dict:
    """The memory series of both variants, run one after the other."""
    t0, load = time.perf_counter(), os.getloadavg()[0]
    fixed = result_of(start_variant("fixed", data, order_file, resets, every))
    unfixed = None
    if unfixed_resets:
        unfixed = result_of(start_variant("unfixed", data, order_file, unfixed_resets, every))
    out = {"wall_s_series": time.perf_counter() - t0, "load_avg_series": [load, os.getloadavg()[0]],
           "fixed": fixed, "unfixed": unfixed,
           "comparison": compare(fixed, unfixed),
           "slope_mb_per_100_resets_second_half": fixed["slope_mb_per_100_resets_second_half"]}
    for result in (fixed, unfixed or {}):
        result.pop("reset_times_s", None)  # long; summarised by the means
    return out


def ab_phase(data: Path, order_file: Path, resets: int) -> dict:
    """Reset times of both variants on the same games, in two processes at the same time."""
    procs = {v: start_variant(v, data, order_file, resets, resets) for v in ("fixed", "unfixed")}
    res = {v: result_of(p) for v, p in procs.items()}
    mean = {v: r["reset_time_s_mean"] for v, r in res.items()}
    return {
        "resets": resets,
        "reset_time_s_mean": mean,
        "reset_time_s_median": {v: r["reset_time_s_median"] for v, r in res.items()},
        "reset_time_ratio_fixed_over_unfixed": mean["fixed"] / mean["unfixed"],
        "reset_time_ratio_goal": "<= 1.05",
        "release_ms_mean": res["fixed"]["release_ms_mean"],
        "load_avg_at_end": os.getloadavg()[0],
    }


def versions() -> dict:
    """Versions of Python and of the packages in play."""
    from cotdiag.versions import installed_versions

    return installed_versions(PACKAGES, python=True)


def compare(fixed: dict, unfixed: dict | None) -> dict:
    """Side-by-side figures; reset times over the games both variants played."""
    if unfixed is None:
        return {}
    n = unfixed["resets"]
    same = fixed["reset_times_s"][1:n]
    at_n = next((p["rss_mb"] for p in fixed["series"] if p["reset"] == n), None)
    return {
        "resets_compared": n,
        "rss_mb_at_resets_compared": {"fixed": at_n, "unfixed": unfixed["rss_mb_last"]},
        "slope_mb_per_100_resets_second_half": {
            "fixed": fixed["slope_mb_per_100_resets_second_half"],
            "unfixed": unfixed["slope_mb_per_100_resets_second_half"],
        },
        "reset_time_s_mean_same_games_sequential": {
            "fixed": statistics.fmean(same) if same else None,
            "unfixed": unfixed["reset_time_s_mean"],
        },
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--resets", type=int, default=1000, help="resets of the fixed env")
    ap.add_argument("--unfixed-resets", type=int, default=300, help="resets of the unfixed env (0: skip)")
    ap.add_argument("--every", type=int, default=50, help="record RSS every this many resets")
    ap.add_argument("--ab-resets", type=int, default=60, help="resets per variant of the timing phase")
    ap.add_argument("--phases", default="series,ab", help="comma-separated subset of series,ab")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--worker", choices=("fixed", "unfixed"), help=argparse.SUPPRESS)
    ap.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--order", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.worker:
        order = json.loads(args.order.read_text())
        print(json.dumps(worker(args.worker, args.data, order, args.resets, args.every)))
        return
    phases = set(args.phases.split(","))
    out = json.loads(args.out.read_text()) if args.out.exists() and phases != {"series", "ab"} else {}
    out.update({"env_id": "CoTDiag-ALFWorld-v0", "env_kwargs": {}, "machine": platform.machine(),
                "cpus": os.cpu_count(), "load_avg_at_start": os.getloadavg()[0], "versions": versions()})
    with tempfile.TemporaryDirectory() as tmp:
        order = build_union(Path(tmp))
        order_file = Path(tmp) / "order.json"
        order_file.write_text(json.dumps(order))
        out["games_available"] = len(order)
        out["game_order"] = "train, valid_seen, valid_unseen (sorted within each), then cycling"
        if "series" in phases:
            out.update(series_phase(Path(tmp), order_file, args.resets, args.unfixed_resets, args.every))
        if "ab" in phases:
            out["timing_ab"] = ab_phase(Path(tmp), order_file, args.ab_resets)
    out["load_avg_at_end"] = os.getloadavg()[0]
    out["note"] = (
        "Unfixed growth: TextWorld interns every Proposition/Signature in mementos' global "
        "_memento_cache and never evicts; ALFWorld facts name objects with coordinates, so each new "
        "game adds ~500 entries. The fix drops that cache on each game switch. The fixed series "
        "rises while the fast-reset cache (16 games) and the allocators reach their high-water mark, "
        "then stays flat."
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
