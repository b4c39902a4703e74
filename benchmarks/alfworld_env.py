"""CoTDiag-ALFWorld-v0 vs the raw alfworld/TextWorld env, side by side in one run.

Raw env: ``textworld.start(game, EnvInfos(...), wrappers=[AlfredDemangler, AlfredInfos,
AlfredExpert(handcoded)])``, i.e. alfworld's own stack with its handcoded expert computed at every
step, as in ``AlfredTWEnv``. Ours: ``gym.make("CoTDiag-ALFWorld-v0")`` (handcoded expert on).
Both play the same games and the same action sequences (our expert's actions), measured
alternately game by game, so machine load affects both alike.

Writes ``benchmarks/results/alfworld_env.json`` with ``step_time_ratio`` (ours / raw, goal <= 1.05),
``reset_speedup_repeated`` (raw repeated reset / ours repeated reset of the same game, goal >= 5),
and the raw first-load times.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import gymnasium as gym
import numpy as np

import cotdiag  # noqa: F401

RESULTS = Path(__file__).parent / "results" / "alfworld_env.json"
RESETS = 3


def raw_env(gamefile: str):
    import textworld
    from alfworld.agents.environment.alfred_tw_env import AlfredDemangler, AlfredExpert, AlfredInfos

    infos = textworld.EnvInfos(won=True, admissible_commands=True, facts=True, extras=["gamefile", "expert_plan"])
    expert = lambda env: AlfredExpert(env, expert_type="handcoded")  # noqa: E731 (upstream passes it positionally: bug)
    return textworld.start(gamefile, infos, wrappers=[AlfredDemangler, AlfredInfos, expert])


def main() -> None:
    ours = gym.make("CoTDiag-ALFWorld-v0", split="valid_seen").unwrapped
    picked: dict[str, str] = {}
    for tid in ours.task_ids:
        picked.setdefault(tid.split("-")[0], tid)
    raw_step, our_step, raw_reset, our_reset, raw_load = [], [], [], [], []
    n_steps = 0
    for _ttype, tid in sorted(picked.items()):
        gamefile = ours._gamefile(tid)
        # ours: first reset (uncached), then collect the expert's actions
        obs, info = ours.reset(seed=0, options={"task_id": tid})
        actions = []
        while True:
            actions.append(info["expert_action"])
            obs, r, term, trunc, info = ours.step(actions[-1])
            if term or len(actions) >= 60:
                break
        t0 = time.perf_counter()
        raw = raw_env(gamefile)
        raw.reset()
        raw_load.append(time.perf_counter() - t0)
        for _ in range(RESETS):
            t0 = time.perf_counter()
            raw.reset()
            raw_reset.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            ours.reset(seed=0, options={"task_id": tid})
            our_reset.append(time.perf_counter() - t0)
        # steps: same actions, alternating env by env per episode
        raw.reset()
        t0 = time.perf_counter()
        for a in actions:
            raw.step(a)
        raw_step.append(time.perf_counter() - t0)
        ours.reset(seed=0, options={"task_id": tid})
        t0 = time.perf_counter()
        for a in actions:
            ours.step(a)
        our_step.append(time.perf_counter() - t0)
        n_steps += len(actions)
        raw.close()
    ours.close()
    result = {
        "games": len(picked),
        "steps": n_steps,
        "raw_step_ms": 1000 * sum(raw_step) / n_steps,
        "ours_step_ms": 1000 * sum(our_step) / n_steps,
        "step_time_ratio": sum(our_step) / sum(raw_step),
        "step_time_ratio_goal": "<= 1.05",
        "raw_first_load_and_reset_s_mean": float(np.mean(raw_load)),
        "raw_reset_repeated_s_mean": float(np.mean(raw_reset)),
        "ours_reset_repeated_s_mean": float(np.mean(our_reset)),
        "reset_speedup_repeated": float(np.mean(raw_reset) / np.mean(our_reset)),
        "reset_speedup_repeated_goal": ">= 5",
        "note": "ours caches each game's PDDL->SAS translation and initial state (cotdiag.envs.alfworld.fast_reset)",
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
