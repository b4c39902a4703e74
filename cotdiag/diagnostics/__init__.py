"""Diagnostics of where CoT training gains land (docs/concepts.md, arXiv 2606.26935), one small module per concept.

==========================  ==================================================================
module                      what it measures
==========================  ==================================================================
``prefill``                 the model seen through prefilled completion (prompt / CoT / forced)
``offline``                 prompt and CoT action quality, CoT advantage, consistency, log p(a*)
``online``                  episodes in each decoding mode on the same task ids and seeds
``conflicting``             revision / prompt-anchored / other rates per truncation fraction
``faithfulness``            the CoT faithfulness battery: early answering (AOC), adding a mistake,
                            paraphrase, filler tokens, biasing hint (docs/faithfulness.md)
``interventions``           the battery's text edits of a CoT or a prompt (no model)
``attention``               attention mass of the action rows on the prompt vs the CoT span
``gradient``                value-path (α·δ) and input-embedding gradient mass per span
``attribution``             the one forward + backward pass feeding attention and gradient
``diagnostic``              what one diagnostic is (``Diagnostic``, ``StageInputs``, ``LeaderboardColumn``)
``builtin`` / ``registry``  the shipped diagnostics as entries; the registry every consumer iterates
                            (docs/adding_a_diagnostic.md)
``sweep``                   every registered diagnostic on a model, and on each checkpoint of a run
``stages``                  per-stage progress (counts, ETA) and results on disk (resume)
``report`` / ``plots``      the report dict, number formatting, the shipped sections and plots
``outputs``                 ``report.json``, ``report.md`` and the PNGs of a run
==========================  ==================================================================

``cotdiag diagnose`` (:mod:`cotdiag.cli.diagnose`) runs the whole protocol. Nothing heavy is
imported here; torch is imported inside the functions that need it.
"""

from __future__ import annotations
