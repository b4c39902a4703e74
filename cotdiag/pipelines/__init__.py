"""The jobs the commands and the benchmarks run, as library functions and config dataclasses: build data,
train SFT, evaluate, diagnose, the leaderboard, the demo.

Each takes a :class:`~cotdiag.pipelines.ui.PipelineUI` for what a person watches (stage titles,
lines, progress); the CLI passes its rich one (:mod:`cotdiag.cli.ui`), a script or benchmark the
default :class:`~cotdiag.pipelines.ui.LogUI` (logging). A job's settings are a dataclass
(``DataJob``, ``EvaluateJob``, ``DiagnoseJob``, ``LeaderboardJob``, ``DemoConfig``) whose fields the
CLI turns into its options (:func:`cotdiag.cli.options.options_from`); the CLI parses and calls, it
holds no job logic of its own.

==============  ===============================================================================
module          what it runs
==============  ===============================================================================
``ui``          the interface to whoever watches (and its logging implementation)
``data``        expert episodes → a saved dataset with its decoding protocol (``build-data``)
``evaluate``    one policy on one env and split, decoded in a mode, recorded per episode (``evaluate``)
``train``       SFT on a saved dataset, with progress (``train sft``, the demo, the study)
``diagnose``    held-out states, every registered diagnostic on each model of a run, the report
                (``diagnose``; resumable stage by stage)
``leaderboard`` every policy of a policies file on a pinned suite (``leaderboard run``)
``demo``        the study at small scale on real ALFWorld games (``demo``, ``make demo``)
==============  ===============================================================================
"""

from __future__ import annotations
