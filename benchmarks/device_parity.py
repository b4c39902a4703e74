"""The diagnostics of one checkpoint on CPU and on a GPU: do the numbers agree, and what does each cost?

Runs :func:`cotdiag.diagnostics.sweep.diagnose_policy` (offline, conflicting traces, attention and
gradient mass; no online episodes, so no simulator is needed) with the same model, states and seed
once per ``device:dtype`` setting, and reports against the first setting:

* ``prompt_action_agreement`` / ``cot_action_agreement``: fraction of states whose greedy action
  is the same string (greedy decoding is deterministic per device, but kernels differ, so a
  near-tie between two tokens can flip);
* ``conflicting_output_agreement``: the same for every (state, source, fraction) output;
* ``max_abs_diff``: the largest absolute difference of any summary value (offline metrics,
  revision rates, attention and gradient prompt shares);
* ``timing_s`` per stage and setting.

Usage (states: a ``.jsonl`` of dataset rows, e.g. written from a ``cotdiag build-data`` folder):
``python benchmarks/device_parity.py --model CKPT --states states.jsonl --settings cpu:float32,cuda:float32,cuda:bfloat16``
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path
from typing import Any


def flat_values(d: Any, prefix: str = "") -> dict[str, float]:
    """``{"a/b/value": 0.3, ...}``: every ``value`` and number of a nested summary."""
    out: dict[str, float] = {}
    if isinstance(d, dict):
        for k, v in d.items():
            if k in ("ci95", "n", "per_layer"):
                continue
            out.update(flat_values(v, f"{prefix}{k}/"))
    elif isinstance(d, (int, float)) and not isinstance(d, bool):
        out[prefix.rstrip("/")] = float(d)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--states", type=Path, required=True, help=".jsonl of held-out states")
    ap.add_argument("--env", default="CoTDiag-ALFWorld-v0")
    ap.add_argument("--settings", default="cpu:float32,cuda:float32,cuda:bfloat16")
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--conflict-states", type=int, default=20)
    ap.add_argument("--attribution-examples", type=int, default=10)
    ap.add_argument("--max-new-tokens", type=int, default=96)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "device_parity.json")
    args = ap.parse_args()

    import torch

    from cotdiag.agents.hf import HFPolicy
    from cotdiag.diagnostics.sweep import DiagnoseConfig, config_dict, diagnose_policy

    states = [json.loads(line) for line in args.states.read_text().splitlines() if line.strip()]
    cfg = DiagnoseConfig(offline_states=args.n, conflict_states=args.conflict_states,
                         attribution_examples=args.attribution_examples, seed=0)
    runs: dict[str, dict[str, Any]] = {}
    for setting in args.settings.split(","):
        device, dtype = setting.split(":")
        policy = HFPolicy(args.model, device=device, dtype=dtype, max_new_tokens=args.max_new_tokens,
                          seed=0, batch_size=16)
        runs[setting] = diagnose_policy(policy, states, cfg, env_id=args.env)
        del policy
    ref_name, ref = next(iter(runs.items()))
    ref_flat = {**flat_values(ref["offline"]), **flat_values(ref.get("conflicting", {}), "conflicting/"),
                **flat_values(ref.get("attribution", {}), "attribution/")}
    report: dict[str, Any] = {"reference": ref_name, "model": args.model, "n_states": len(states),
                              "config": config_dict(cfg), "settings": {}}
    for name, r in runs.items():
        off, roff = r["records"]["offline"], ref["records"]["offline"]
        con, rcon = r["records"].get("conflicting", []), ref["records"].get("conflicting", [])
        flat = {**flat_values(r["offline"]), **flat_values(r.get("conflicting", {}), "conflicting/"),
                **flat_values(r.get("attribution", {}), "attribution/")}
        diffs = {k: abs(flat[k] - v) for k, v in ref_flat.items() if k in flat}
        worst = max(diffs, key=diffs.get) if diffs else None
        report["settings"][name] = {
            "prompt_action_agreement": sum(a["prompt_action"] == b["prompt_action"] for a, b in zip(off, roff, strict=True)) / len(off),
            "cot_action_agreement": sum(a["cot_action"] == b["cot_action"] for a, b in zip(off, roff, strict=True)) / len(off),
            "conflicting_output_agreement": (sum(a["action"] == b["action"] for a, b in zip(con, rcon, strict=True)) / len(con)) if con else None,
            "max_abs_diff": diffs[worst] if worst else None, "max_abs_diff_key": worst,
            "summary": {k: flat[k] for k in sorted(flat) if k.endswith("/value") and "/n/" not in k},
            "timing_s": r["timing_s"],
        }
    report["versions"] = {"torch": torch.__version__, "python": platform.python_version(),
                          "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: {kk: vv for kk, vv in v.items() if kk != "summary"} for k, v in report["settings"].items()}, indent=2))


if __name__ == "__main__":
    main()
