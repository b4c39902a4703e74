"""Rollouts: the episode plan, the one episode loop, per-episode records, and their backends.

=========================== ================================================================
module                      holds
=========================== ================================================================
:mod:`.plan`                :func:`episode_plan`: which task and reset seed each episode gets
:mod:`.recorder`            :class:`EpisodeRecorder`: the record of one episode (its keys)
:mod:`.vector`              :class:`EpisodePlanWrapper`, :func:`make_planned_vec`
:mod:`.loop`                :func:`play` (the loop), :func:`run_episode`, :func:`vector_episodes`
:mod:`.ray`                 :func:`~cotdiag.rollout.ray.ray_episodes` (imported on use)
:mod:`.episode_log`         :class:`EpisodeLog`: resumable ``episodes.jsonl`` + ``config.json``
:mod:`.factory`             :class:`DecodedEnvFactory`: gym.make + the decoding wrapper
:mod:`.evaluation`          :func:`evaluate` and :func:`summarize`
=========================== ================================================================

Backends of :func:`evaluate`: ``local`` (a ``SyncVectorEnv`` of one env in this process),
``num_envs > 1`` (an ``AsyncVectorEnv``), ``ray`` (one env per Ray actor). All run :func:`play`, so
their records are equal except for timings, failed episodes included.
"""

from __future__ import annotations

from cotdiag.rollout.episode_log import EpisodeLog
from cotdiag.rollout.evaluation import describe_factory, evaluate, summarize
from cotdiag.rollout.factory import DecodedEnvFactory
from cotdiag.rollout.loop import play, run_episode, vector_episodes
from cotdiag.rollout.plan import PlannedEpisode, episode_plan
from cotdiag.rollout.recorder import TIMING_KEYS, EpisodeRecorder
from cotdiag.rollout.vector import EpisodePlanWrapper, make_planned_vec, planned_vec_of

__all__ = [
    "TIMING_KEYS",
    "DecodedEnvFactory",
    "EpisodeLog",
    "EpisodePlanWrapper",
    "EpisodeRecorder",
    "PlannedEpisode",
    "describe_factory",
    "episode_plan",
    "evaluate",
    "make_planned_vec",
    "planned_vec_of",
    "play",
    "run_episode",
    "summarize",
    "vector_episodes",
]
