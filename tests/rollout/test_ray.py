"""The Ray backend gives the same records as the local backend for the same seeds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cotdiag.agents.registry import make_policy
from cotdiag.error import InvalidConfigError
from cotdiag.plugins import import_user_module
from cotdiag.rollout import evaluate

pytest.importorskip("ray")

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "textworld_env" / "tw_env.py"
VOLATILE = ("wall_time_s", "policy_time_s")


def _records(run_dir: Path) -> list[dict]:
    recs = [json.loads(line) for line in (run_dir / "episodes.jsonl").read_text().splitlines()]
    return sorted(({k: v for k, v in r.items() if k not in VOLATILE} for r in recs), key=lambda r: r["episode"])


@pytest.fixture(scope="module")
def local_ray():
    import ray

    from cotdiag.rollout.ray import init_ray

    started = init_ray(num_cpus=2)
    yield
    if started:
        from cotdiag.rollout.ray import shutdown_pool

        shutdown_pool()
        ray.shutdown()


@pytest.mark.timeout(600)
def test_ray_matches_local(tmp_path, local_ray):
    import_user_module(str(EXAMPLE))  # the actors re-import it (cotdiag.plugins.imported_specs)
    for policy in ("random", "expert"):
        kw = dict(split="train", episodes=3, seed=5, max_episode_steps=8)
        local = evaluate("TextWorldExample-v0", make_policy(policy, seed=0), tmp_path / f"local_{policy}", **kw)
        ray_ = evaluate("TextWorldExample-v0", make_policy(policy, seed=0), tmp_path / f"ray_{policy}",
                        backend="ray", num_workers=2, **kw)
        assert _records(tmp_path / f"local_{policy}") == _records(tmp_path / f"ray_{policy}")
        assert {k: v for k, v in local.items()} == ray_


def test_unknown_backend(tmp_path):
    with pytest.raises(InvalidConfigError, match="backend"):
        evaluate("CoTDiag-ALFWorld-v0", make_policy("expert"), tmp_path, backend="spark")
