"""Run every benchmark script in ``benchmarks/`` and write ``benchmarks/results/SUMMARY.md``.

Each benchmark is a script ``benchmarks/<name>.py`` that writes ``benchmarks/results/<x>.json``.
``run_all.py`` runs them one after the other (a subprocess each, with a time limit), then builds
the summary from the JSON files alone, so ``--summary-only`` rebuilds it without re-running.

The summary reads each result with :data:`SPECS`: which key holds our number, which the
reference number measured side by side, which the ratio and what the goal is (a key of the JSON,
or a fixed goal). A JSON file without a spec is summarized generically (its top-level ``*ratio*``
/ ``*speedup*`` keys and their ``*goal*`` keys).

Usage::

    python benchmarks/run_all.py                  # run all, then write SUMMARY.md
    python benchmarks/run_all.py --only ray_throughput alfworld_env
    python benchmarks/run_all.py --summary-only
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
SUMMARY = RESULTS / "SUMMARY.md"

#: result file stem -> how to read it. Keys are dotted paths into the JSON; ``goal`` is a path or,
#: prefixed with ``=``, a literal goal such as ``"=<= 1.05"``.
SPECS: dict[str, dict[str, str]] = {
    "alfworld_env": {"what": "ALFWorld step time vs raw alfworld/TextWorld", "unit": "ms/step",
                     "ours": "ours_step_ms", "ref": "raw_step_ms", "ratio": "step_time_ratio",
                     "goal": "step_time_ratio_goal"},
    "alfworld_env#reset": {"file": "alfworld_env", "what": "ALFWorld repeated reset vs raw", "unit": "s/reset",
                           "ours": "ours_reset_repeated_s_mean", "ref": "raw_reset_repeated_s_mean",
                           "ratio": "reset_speedup_repeated", "goal": "reset_speedup_repeated_goal"},
    "scienceworld_env": {"what": "ScienceWorld step time vs raw scienceworld", "unit": "ms/step",
                         "ours": "timing.step_time_ms_ours", "ref": "timing.step_time_ms_raw",
                         "ratio": "step_time_ratio", "goal": "=<= 1.05"},
    "bfcl_env": {"what": "BFCL multi-turn env steps/s (no reference loop)", "unit": "steps/s",
                 "ours": "steps_per_s", "goal": "goal_steps_per_s", "goal_op": ">="},
    "vector": {"what": "AsyncVectorEnv ALFWorld, 2 envs vs 1", "unit": "steps/s",
               "ours": "runs.n2.steps_per_s", "ref": "runs.n1.steps_per_s", "ratio": "speedup_n2", "goal": "=>= 1.7"},
    "ray": {"what": "evaluate --backend ray vs local (TextWorld example)", "unit": "episodes/s",
            "ours": "workloads.textworld_example.ray.episodes_per_s",
            "ref": "workloads.textworld_example.local.episodes_per_s",
            "ratio": "workloads.textworld_example.speedup", "goal": "speedup_goal"},
    "ray#alfworld": {"file": "ray", "what": "evaluate --backend ray vs local (ALFWorld expert)", "unit": "episodes/s",
                     "ours": "workloads.alfworld.ray.episodes_per_s", "ref": "workloads.alfworld.local.episodes_per_s",
                     "ratio": "workloads.alfworld.speedup", "goal": "speedup_goal"},
    "attribution": {"what": "attention/gradient attribution vs plain forward+backward", "unit": "s/example",
                    "ours": "analysis_s", "ref": "plain_forward_backward_s", "ratio": "cost_ratio", "goal": "goal"},
    "attribution_cuda_long": {"what": "attribution vs plain forward+backward, Qwen2-0.5B layer sizes, bf16, H100, 3.1k tokens", "unit": "s/example",
                              "ours": "analysis_s", "ref": "plain_forward_backward_s", "ratio": "cost_ratio", "goal": "goal"},
    "attribution_cuda": {"what": "attribution vs plain forward+backward, Qwen2-0.5B layer sizes, bf16, H100, 868 tokens", "unit": "s/example",
                         "ours": "analysis_s", "ref": "plain_forward_backward_s", "ratio": "cost_ratio", "goal": "goal"},
    "attribution_cuda_tiny": {"what": "attribution vs plain forward+backward, tiny model, fp32, H100", "unit": "s/example",
                              "ours": "analysis_s", "ref": "plain_forward_backward_s", "ratio": "cost_ratio", "goal": "goal"},
    "generation": {"what": "HF generation, batch 8 vs 8 sequential calls", "ours": "batched_tokens_per_s",
                   "ref": "sequential_tokens_per_s", "ratio": "batched_speedup_ratio",
                   "goal": "batched_speedup_ratio_goal", "unit": "tokens/s"},
    "batched_episodes": {"what": "shipped agent, CoT, ALFWorld: 8 episodes decoded in one batch vs one at a time",
                         "unit": "decisions/s", "ours": "runs.batched.decisions_per_s",
                         "ref": "runs.sequential.decisions_per_s", "ratio": "speedup", "goal": "=>= 2"},
    "batched_cache": {"what": "shipped agent, 16 episodes with 1,300-1,700 cached tokens decoded together: StaticCache vs DynamicCache",
                      "unit": "s", "ours": "static_s", "ref": "dynamic_s", "ratio": "speedup"},
    "scoring": {"what": "admissible-action scoring of the shipped agent: one tree-masked forward vs one per candidate",
                "unit": "s/state", "ours": "ours_s_per_state", "ref": "reference_s_per_state", "ratio": "speedup",
                "goal": "speedup_goal"},
    "context_drop": {"what": "shipped agent's recorded CoT episodes: prompt tokens run per decision, window dropped in blocks of 8 pairs vs 1",
                     "unit": "tokens/decision", "ours": "blocks.8.tokens_run_per_decision",
                     "ref": "blocks.1.tokens_run_per_decision", "ratio": "prefill_ratio_block8"},
    "collator": {"what": "SFT tokens/s, masking collator vs TRL stock collator (ratio: overhead fraction)",
                 "ours": "masked_tokens_per_s", "ref": "stock_tokens_per_s", "ratio": "overhead_fraction",
                 "goal": "overhead_fraction_goal", "unit": "tokens/s"},
}

#: Scripts ``run_all`` does not run: they need arguments or hardware CI lacks (run them by hand,
#: see each docstring): the small-scale study and its summary, the CPU-vs-GPU parity check, and the
#: context-window count over a run's recorded episodes.
MANUAL: frozenset[str] = frozenset({"study_small", "study_summary", "device_parity", "context_drop"})

_GOAL_RE = re.compile(r"^\s*(<=|>=|<|>|==)\s*([-+0-9.eE]+)\s*$")


def get(data: Any, path: str | None) -> Any:
    """``data`` at dotted ``path`` (``None`` when absent)."""
    if not path:
        return None
    for part in path.split("."):
        if not isinstance(data, dict) or part not in data:
            return None
        data = data[part]
    return data


def goal_met(value: Any, goal: Any, op: str | None = None) -> str:
    """``"yes"``/``"no"`` for ``value`` against a goal like ``"<= 1.05"`` (or a number with ``op``)."""
    if not isinstance(value, (int, float)) or goal is None:
        return "—"
    if isinstance(goal, (int, float)):
        goal = f"{op or '>='} {goal}"
    m = _GOAL_RE.match(str(goal))
    if not m:
        return "—"
    target = float(m.group(2))
    ok = {"<=": value <= target, ">=": value >= target, "<": value < target, ">": value > target,
          "==": value == target}[m.group(1)]
    return "yes" if ok else "no"


def _fmt(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def summary_rows(results_dir: Path = RESULTS) -> list[dict[str, str]]:
    """One row per spec whose JSON exists, plus generic rows for JSON files without a spec."""
    files = {p.stem: p for p in sorted(results_dir.glob("*.json"))}
    rows: list[dict[str, str]] = []
    covered = set()
    for key, spec in SPECS.items():
        stem = spec.get("file", key)
        if stem not in files:
            continue
        covered.add(stem)
        data = json.loads(files[stem].read_text())
        goal_spec = spec.get("goal")
        goal = goal_spec[1:] if goal_spec and goal_spec.startswith("=") else get(data, goal_spec)
        value = get(data, spec.get("ratio")) if spec.get("ratio") else get(data, spec["ours"])
        if isinstance(goal, (int, float)):
            goal_text = f"{spec.get('goal_op', '>=')} {goal}"
        else:
            goal_text = _fmt(goal)
        rows.append({
            "benchmark": key, "what": spec["what"], "unit": spec.get("unit", ""),
            "ours": _fmt(get(data, spec["ours"])), "reference": _fmt(get(data, spec.get("ref"))),
            "ratio": _fmt(get(data, spec.get("ratio"))), "goal": goal_text,
            "met": goal_met(value, goal, spec.get("goal_op")), "file": f"results/{files[stem].name}",
        })
    for stem, path in files.items():
        if stem in covered:
            continue
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError:
            continue
        if not isinstance(data, dict):
            continue
        generic = [
            {"benchmark": stem, "what": k, "unit": "", "ours": "—", "reference": "—", "ratio": _fmt(v),
             "goal": _fmt(data.get(f"{k}_goal", data.get("goal"))),
             "met": goal_met(v, data.get(f"{k}_goal", data.get("goal"))), "file": f"results/{path.name}"}
            for k, v in data.items() if isinstance(v, (int, float)) and re.search(r"ratio|speedup", k)
        ]
        rows += generic or [{"benchmark": stem, "what": "(no ratio in the file: see it)", "unit": "",
                             "ours": "—", "reference": "—", "ratio": "—", "goal": "—", "met": "—",
                             "file": f"results/{path.name}"}]
    return rows


def write_summary(runs: dict[str, dict[str, Any]] | None = None, results_dir: Path = RESULTS,
                  out: Path = SUMMARY) -> Path:
    """Write the Markdown summary (and, when given, the status of this invocation's runs)."""
    rows = summary_rows(results_dir)
    cols = ["benchmark", "what", "unit", "ours", "reference", "ratio", "goal", "met", "file"]
    lines = ["# Benchmarks", "",
             "Generated by `make bench` (`benchmarks/run_all.py`) from `benchmarks/results/*.json`. "
             "Ours and the reference are measured side by side in the same run; ratio and goal as "
             "defined by each script's docstring. Machine: 2 shared CPU cores, timings are noisy.", "",
             "| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for r in rows:
        r = dict(r, file=f"[{r['file'].split('/')[-1]}]({r['file']})")
        lines.append("| " + " | ".join(r[c] for c in cols) + " |")
    if runs:
        lines += ["", "## Last `make bench` run", "", "| script | exit code | wall (s) |", "|---|---:|---:|"]
        lines += [f"| {name} | {r['rc']} | {r['wall_s']:.0f} |" for name, r in runs.items()]
    out.write_text("\n".join(lines) + "\n")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description="Run the benchmarks and write results/SUMMARY.md.")
    ap.add_argument("--only", nargs="*", help="Benchmark script names (without .py) to run.")
    ap.add_argument("--summary-only", action="store_true", help="Only rebuild SUMMARY.md from the JSON files.")
    ap.add_argument("--timeout", type=float, default=3600, help="Time limit per script (s).")
    args = ap.parse_args()
    runs: dict[str, dict[str, Any]] = {}
    if not args.summary_only:
        scripts = sorted(p for p in HERE.glob("*.py")
                         if p.name != "run_all.py" and not p.name.startswith("_") and p.stem not in MANUAL)
        if args.only:
            scripts = [p for p in scripts if p.stem in args.only]
        for script in scripts:
            print(f"== {script.name}", flush=True)
            t0 = time.perf_counter()
            try:
                rc = subprocess.run([sys.executable, str(script)], cwd=HERE.parent, timeout=args.timeout).returncode
            except subprocess.TimeoutExpired:
                rc = "timeout"
            runs[script.stem] = {"rc": rc, "wall_s": time.perf_counter() - t0}
    path = write_summary(runs)
    print(path.read_text())
    return 0 if all(r["rc"] == 0 for r in runs.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
