"""Scripted models with known behaviour for the diagnostics tests."""

from __future__ import annotations

from cotdiag.diagnostics.prefill import PrefillModel
from cotdiag.response.format import DEFAULT_FORMAT as F


def make_states(n: int = 8) -> list[dict]:
    """``n`` states; state i has expert action ``act i`` and a trace arguing for it."""
    return [
        {"prompt": f"Task: t{i // 2}\nobs {i}", "action": f"act {i}", "trace": f"I should do act {i} now because of reasons",
         "task_id": f"t{i // 2}", "task_type": "x", "step": i % 2}
        for i in range(n)
    ]


def table_model(prompt_map: dict, cot_map: dict, *, follow_trace: bool = False, logp: float = -1.0) -> PrefillModel:
    """Prompt mode answers ``prompt_map[prompt]``; CoT mode ``cot_map[prompt]``.

    With a forced trace, ``follow_trace=True`` answers the action the trace argues for (the last
    ``act N`` it names, or the prompt action when truncated away) and ``False`` the prompt action.
    """

    def complete(prompts, prefills):
        out = []
        for p, f in zip(prompts, prefills, strict=True):
            if f == F.action_open:
                out.append(f"{prompt_map[p]}{F.action_close}")
            elif f == "":
                out.append(f"{F.think_open}because{F.think_close}{F.action_open}{cot_map[p]}{F.action_close}")
            else:
                trace = f[len(F.think_open): f.index(F.think_close)]
                words = trace.split()
                named = [f"act {words[k + 1]}" for k in range(len(words) - 1) if words[k] == "act"]
                a = named[-1] if (follow_trace and named) else prompt_map[p]
                out.append(f" {a} {F.action_close}")
        return out

    def score(prompts, prefills, conts):
        return [logp if f == F.action_open else logp / 2 for f in prefills]

    return PrefillModel(complete=complete, score=score)
