"""Run evaluation episodes on Ray actors: one simulator per actor, reused across episodes.

:func:`ray_episodes` is the Ray backend of :func:`cotdiag.rollout.evaluate`
(``cotdiag evaluate --backend ray``). Each actor builds one env (and holds one copy of the
policy), then plays the episodes it is handed with :func:`cotdiag.rollout.loop.run_episode`, which
re-seeds env and policy from the episode seed, so a record depends only on ``(task_id, seed)``
and equals the local backend's record (except ``wall_time_s`` and ``policy_time_s``).

Here, a local Ray instance is started (``ray.init(num_cpus=...)``, no dashboard); on a cluster pass
its address (``--ray_address ray://head:10001`` or ``auto``). User modules imported with
:func:`cotdiag.plugins.import_user_module` are re-imported in every actor (a file path must exist
on the worker nodes, e.g. a shared file system or a Ray ``runtime_env``).
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import gymnasium as gym

from cotdiag.agents.base import Policy
from cotdiag.error import DependencyNotInstalled, InvalidConfigError

logger = logging.getLogger(__name__)


def _broken_pyarrow_runtime_env() -> dict[str, Any]:
    """A Ray ``runtime_env`` that hides a pyarrow which cannot be imported; ``{}`` when it imports.

    Ray imports pyarrow (when installed) in every process to register Arrow serializers and only
    tolerates its absence (``ModuleNotFoundError``); a pyarrow built for another NumPy major raises
    ``ImportError`` instead and kills the driver and every actor. Episode records hold no Arrow
    data, so the driver marks pyarrow absent and the workers get a stub package first on
    ``PYTHONPATH`` that raises ``ModuleNotFoundError``.
    """
    if sys.modules.get("pyarrow", 0) is None:
        return _BROKEN_PYARROW_ENV
    try:
        import pyarrow  # noqa: F401
    except ModuleNotFoundError:
        return {}
    except ImportError as e:
        logger.warning("pyarrow cannot be imported (%s); Ray runs without its Arrow serializers", e)
        sys.modules["pyarrow"] = None  # type: ignore[assignment]
        stub = Path(tempfile.mkdtemp(prefix="cotdiag_no_pyarrow_")) / "pyarrow"
        stub.mkdir()
        (stub / "__init__.py").write_text(
            'raise ModuleNotFoundError("pyarrow hidden by cotdiag.rollout.ray", name="pyarrow")\n'
        )
        path = os.pathsep.join(p for p in (str(stub.parent), os.environ.get("PYTHONPATH", "")) if p)
        _BROKEN_PYARROW_ENV.update(env_vars={"PYTHONPATH": path})
        return _BROKEN_PYARROW_ENV
    return {}


_BROKEN_PYARROW_ENV: dict[str, Any] = {}


def _import_ray() -> Any:
    _broken_pyarrow_runtime_env()  # before Ray can import a broken pyarrow
    try:
        import ray
    except ImportError as e:  # pragma: no cover - exercised only without the dependency
        raise DependencyNotInstalled("the Ray backend needs `ray` (pip install 'cotdiag[ray]')") from e
    return ray


class EpisodeWorker:
    """The body of a Ray actor: one env and one policy, reused for every episode it plays.

    An actor outlives one :func:`ray_episodes` call while Ray stays up (the actors are kept in a
    per-process pool), so a leaderboard pays the process start-up once. :meth:`configure` keeps the
    current env when the env configuration is unchanged and builds a new one (closing the old)
    otherwise; the policy is replaced on every call.
    """

    def __init__(self) -> None:
        import cotdiag  # noqa: F401  (registers the envs in the worker process)

        self.env: gym.Env | None = None
        self.env_config: tuple | None = None
        self.policy: Policy | None = None

    def configure(self, policy: Policy, env_id: str, env_kwargs: dict[str, Any],
                  max_episode_steps: int | None, make_env: Callable[..., gym.Env] | None,
                  imports: list[str]) -> bool:
        """Set the policy and (re)build the env when its configuration changed.

        Args:
            policy: the policy (pickled to the actor).
            env_id: registered Gymnasium id, used when ``make_env`` is ``None``.
            env_kwargs: constructor kwargs (including ``split``).
            max_episode_steps: step limit override, or ``None``.
            make_env: optional ``make_env(**env_kwargs) -> env`` factory (compared with ``==``).
            imports: user module specs to import first (see :mod:`cotdiag.plugins`).

        Returns:
            Whether a new env was built.
        """
        from cotdiag.plugins import import_user_modules

        import_user_modules(imports)
        self.policy = policy
        config = (env_id, env_kwargs, max_episode_steps, make_env)
        if self.env is not None and self.env_config == config:
            return False
        self.close()
        if make_env is not None:
            self.env = make_env(**env_kwargs)
        else:
            self.env = gym.make(env_id, max_episode_steps=max_episode_steps, **env_kwargs)
        self.env_config = config
        return True

    def run(self, index: int, task_id: str, seed: int) -> tuple[int, dict[str, Any]]:
        """Play one episode; return ``(index, record)``."""
        from cotdiag.rollout.loop import run_episode

        return index, run_episode(self.env, self.policy, task_id, seed)

    def close(self) -> None:
        """Close the env (if any)."""
        if self.env is not None:
            self.env.close()
        self.env, self.env_config = None, None


#: Actors kept between :func:`ray_episodes` calls while the same Ray job is up.
_POOL: list[Any] = []
_POOL_JOB: list[str] = []


def _actors(ray: Any, n: int) -> list[Any]:
    """``n`` pooled actors, creating the missing ones (the pool is dropped when Ray restarted)."""
    job = str(ray.get_runtime_context().get_job_id())
    if _POOL_JOB != [job]:
        _POOL.clear()
        _POOL_JOB[:] = [job]
    actor_cls = ray.remote(num_cpus=1)(EpisodeWorker)
    while len(_POOL) < n:
        _POOL.append(actor_cls.remote())
    return _POOL[:n]


def shutdown_pool() -> None:
    """Kill the pooled actors (called before ``ray.shutdown()`` by those who started Ray)."""
    ray = _import_ray()
    for a in _POOL:
        try:
            ray.kill(a)
        except Exception:  # noqa: BLE001 - already gone
            pass
    _POOL.clear()


def init_ray(address: str | None = None, num_cpus: int | None = None) -> bool:
    """Connect to Ray unless already connected.

    Args:
        address: cluster address (``"auto"``, ``"ray://head:10001"``); ``None`` starts a local
            instance with ``num_cpus`` CPUs (``None``: all) and no dashboard.
        num_cpus: CPUs of the local instance (ignored with ``address``).

    Returns:
        ``True`` when this call started or connected Ray (the caller shuts it down), ``False`` when
        Ray was already initialized.

    Raises:
        cotdiag.error.DependencyNotInstalled: ``ray`` is not installed.
    """
    runtime_env = _broken_pyarrow_runtime_env() or None
    ray = _import_ray()
    if ray.is_initialized():
        return False
    if address is None:
        ray.init(num_cpus=num_cpus, include_dashboard=False, logging_level=logging.WARNING,
                 runtime_env=runtime_env)
    else:
        ray.init(address=address, logging_level=logging.WARNING, runtime_env=runtime_env)
    return True


def ray_episodes(
    plan: list[tuple[int, str, int]],
    policy: Policy,
    *,
    env_id: str,
    env_kwargs: dict[str, Any] | None = None,
    max_episode_steps: int | None = None,
    make_env: Callable[..., gym.Env] | None = None,
    address: str | None = None,
    num_workers: int | None = None,
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Play ``plan`` on Ray actors and yield ``(episode_index, record)`` as episodes finish.

    Args:
        plan: ``[(episode_index, task_id, reset_seed), ...]`` (see :func:`cotdiag.rollout.plan.episode_plan`).
        policy: the policy; each actor gets a copy.
        env_id, env_kwargs, max_episode_steps, make_env: how each actor builds its env.
        address: Ray cluster address; ``None`` starts (or reuses) a local instance.
        num_workers: number of actors (each reserves 1 CPU); ``None``: the cluster's CPU count.
            Never more actors than episodes.

    Yields:
        ``(episode_index, record)`` in completion order (not plan order).

    Raises:
        cotdiag.error.DependencyNotInstalled: ``ray`` is not installed.
        cotdiag.error.InvalidConfigError: ``num_workers`` is not a positive int.
    """
    if num_workers is not None and num_workers < 1:
        raise InvalidConfigError(f"expected num_workers >= 1, got {num_workers}")
    if not plan:
        return
    ray = _import_ray()
    from ray.util import ActorPool

    from cotdiag.plugins import imported_specs

    started = init_ray(address, num_cpus=num_workers)
    cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
    n = min(num_workers or cpus, cpus, len(plan))  # an actor holds 1 CPU: more would never start
    try:
        actors = _actors(ray, n)
        policy_ref = ray.put(policy)
        ray.get([a.configure.remote(policy_ref, env_id, dict(env_kwargs or {}), max_episode_steps,
                                    make_env, imported_specs()) for a in actors])
        logger.info("playing %d episodes on %d Ray actors", len(plan), n)
        yield from ActorPool(actors).map_unordered(lambda a, p: a.run.remote(*p), plan)
    except BaseException:
        shutdown_pool()  # an actor may be mid-episode: never hand it to the next call
        raise
    finally:
        if started:
            shutdown_pool()
            ray.shutdown()
