"""What :class:`cotdiag.agents.hf.HFPolicy` does with a key/value cache: reuse it across the turns of a
conversation, and score admissible actions on it (``action_selection="score"``).

Within an episode each turn's model input extends the previous one, so the cache of the previous
call, cropped to the longest common token prefix, saves re-running the conversation; the
admissible actions are scored together on the cache of the response prefix, in one forward whose
4-D attention mask lets each candidate's tokens see only the prefix and their own candidate, and the
cache is cropped back after it (TPD-style admissible-action scoring;
``benchmarks/results/scoring.json`` compares it with one forward per candidate).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cotdiag.error import InvalidConfigError

#: How :class:`HFPolicy` picks the action: free generation, or scoring the admissible actions.
ACTION_SELECTIONS: tuple[str, ...] = ("generate", "score")


def _cache_kwarg() -> str:
    """``generate``'s name for a key/value cache: ``cache`` (recent transformers) or ``past_key_values``."""
    try:
        from transformers.generation.utils import ALL_CACHE_NAMES
    except ImportError:
        return "past_key_values"
    return "cache" if "cache" in ALL_CACHE_NAMES else "past_key_values"


CACHE_KWARG = _cache_kwarg()


def check_model_folder(path: str) -> None:
    """Refuse a model argument that names a local folder that does not exist (before any hub lookup).

    ``path`` is taken as a local folder when it starts with ``.``, ``/`` or ``~``, when its first
    component is an existing folder (``runs/sft`` with ``runs/`` present), or when hub access is
    off (``HF_HUB_OFFLINE=1``).

    Raises:
        InvalidConfigError: the folder does not exist.
    """
    p = Path(path).expanduser()
    if p.is_dir():
        return
    local = str(path).startswith((".", "/", "~")) or Path(Path(path).parts[0]).is_dir()
    offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0", "false", "False")
    if local or offline:
        why = "" if local else " (HF_HUB_OFFLINE=1, so it is not looked up on the hub)"
        raise InvalidConfigError(f"model folder {path} does not exist{why}")


def common_prefix_len(a: Sequence[int], b: Sequence[int]) -> int:
    """Length of the longest common prefix of two token-id sequences (how much of a cache is reusable)."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


class CacheScoringMixin:
    """Cache reuse and admissible-action scoring for :class:`~cotdiag.agents.hf.HFPolicy` (which holds
    ``model``, ``tokenizer``, ``fmt``, ``device``, ``_torch``, ``_kv``, ``_kv_ids`` and ``last_step``)."""

    def _select(self, text: str, completion: str, admissible: list[str]) -> str:
        """``completion`` with its action replaced by the admissible action of highest log-probability."""
        fmt = self.fmt
        k = completion.find(fmt.action_open)
        if text.endswith(fmt.action_open):  # prompt mode: the action follows the prefill
            head, generated = "", completion.split(fmt.action_close)[0]
        elif k >= 0:  # CoT mode: score after the generated reasoning and the action tag
            head = completion[: k + len(fmt.action_open)]
            generated = completion[len(head):].split(fmt.action_close)[0]
        else:  # CoT mode without an action tag: close the reasoning, then open the action
            head = completion.split(fmt.action_close)[0]
            if fmt.think_open in head and fmt.think_close not in head:
                head += fmt.think_close
            head, generated = head + fmt.action_open, ""
        scores = self.score_candidates(text + head, [a + fmt.action_close for a in admissible])
        chosen = admissible[max(range(len(admissible)), key=scores.__getitem__)]
        self.last_step = {"generated": generated.strip(), "chosen": chosen}
        return head + chosen + fmt.action_close

    def score_candidates(self, text: str, continuations: Sequence[str]) -> list[float]:
        """Summed log-probability (nats) of each continuation after the model input ``text``.

        ``text`` runs once (on the episode's key/value cache, so within an episode only its new
        tokens run); the continuations then run together on that cache (:meth:`_score_tails`). A
        continuation whose tokens do not start at the boundary of ``text``'s tokens (a merge across
        it) is scored by a full forward pass of ``text + continuation`` instead.

        Returns:
            ``list[float]``, one per continuation.
        """
        torch = self._torch
        tok = self.tokenizer
        head = tok(text, add_special_tokens=False)["input_ids"]
        scores: list[float] = []
        tails: dict[int, list[int]] = {}  # candidate index -> its tokens after the first
        with torch.inference_mode():
            cache, out = self._extend_cache(head, len(head))  # the cache never holds the last token
            last = torch.log_softmax(out.logits[0, -1].float(), dim=-1)
            self._kv, self._kv_ids = cache, list(head)
            for i, c in enumerate(continuations):
                full = tok(text + c, add_special_tokens=False)["input_ids"]
                if full[: len(head)] != head or len(full) == len(head):
                    scores.append(self._score_full(full, head))
                    continue
                cand = full[len(head):]
                scores.append(float(last[cand[0]]))
                if len(cand) > 1:
                    tails[i] = cand
            if tails:
                for i, lp in self._score_tails(cache, tails).items():
                    scores[i] += lp
        return scores

    def _score_tails(self, cache: Any, cands: dict[int, list[int]]) -> dict[int, float]:
        """Summed log-probability of tokens ``1:`` of each candidate after the cached text, in one forward.

        The candidates' tokens ``:-1`` run as one sequence on the cache with a 4-D attention mask: each
        token sees the cached text and the earlier tokens of its own candidate, at the positions it
        would have alone (tree attention, as in speculative decoding's verification). The cache is
        cropped back afterwards.
        """
        torch = self._torch
        n = cache.get_seq_length()
        ids, pos, owner = [], [], []
        for i, cand in cands.items():
            ids += cand[:-1]
            pos += range(n, n + len(cand) - 1)
            owner += [i] * (len(cand) - 1)
        q = len(ids)
        own = torch.tensor(owner)
        p = torch.tensor(pos)
        allowed = (own[:, None] == own[None, :]) & (p[None, :] <= p[:, None])
        mask = torch.ones(q, n + q, dtype=torch.bool)
        mask[:, n:] = allowed
        dtype = self.model.dtype if self.model.dtype.is_floating_point else torch.float32
        additive = torch.zeros(mask.shape, dtype=dtype).masked_fill(~mask, torch.finfo(dtype).min)
        with torch.inference_mode():
            out = self.model(input_ids=torch.tensor([ids], device=self.device),
                             position_ids=p[None].to(self.device),
                             attention_mask=additive[None, None].to(self.device), **{CACHE_KWARG: cache},
                             use_cache=True)
            cache.crop(-q)  # a negative value removes that many tokens (every transformers version)
            logp = torch.log_softmax(out.logits[0].float(), dim=-1)
        result: dict[int, float] = {}
        k = 0
        for i, cand in cands.items():
            result[i] = float(sum(logp[k + j, cand[j + 1]] for j in range(len(cand) - 1)))
            k += len(cand) - 1
        return result

    def _score_full(self, full: list[int], head: list[int]) -> float:
        """Summed log-probability of ``full`` after its longest common token prefix with ``head``."""
        torch = self._torch
        k = max(common_prefix_len(full, head), 1)
        with torch.inference_mode():
            logits = self.model(input_ids=torch.tensor([full], device=self.device)).logits
            logp = torch.log_softmax(logits[0].float(), dim=-1)
            return float(sum(logp[t - 1, full[t]] for t in range(k, len(full))))

    def _extend_cache(self, ids: list[int], end: int) -> tuple[Any, Any]:
        """The episode's cache (:meth:`_reusable_cache`) with ``ids[n:end]`` run on it, where ``n`` is
        the length it kept; returns it and the model output (``None`` when nothing ran), whose logits
        cover only the last token run (``logits_to_keep=1``: the vocabulary projection of the other
        tokens is never used). Callers hold ``torch.inference_mode()``. Admissible scoring runs the
        whole prompt (``end = len(ids)``), batched generation all but its last token
        (``end = len(ids) - 1``, which ``generate`` runs)."""
        torch = self._torch
        cache = self._reusable_cache(torch.tensor([ids]))
        n = cache.get_seq_length()
        out = None
        if n < end:
            out = self.model(input_ids=torch.tensor([ids[n:end]], device=self.device), **{CACHE_KWARG: cache},
                             use_cache=True, logits_to_keep=1)
        return cache, out

    def _reusable_cache(self, input_ids: Any) -> Any:
        """The episode's cache cropped to its common token prefix with ``input_ids`` (a fresh cache when none).

        The cache holds the keys and values of the previous call's input and generated tokens; the
        next turn of a conversation re-tokenizes that text, so the longest common prefix of token
        ids is kept (at most all but the last input token, which generation must run).
        """
        from transformers import DynamicCache

        ids = input_ids[0].tolist()
        if self._kv is None:
            return DynamicCache()
        n = common_prefix_len(self._kv_ids, ids[:-1])
        if n == 0:
            return DynamicCache()
        extra = self._kv.get_seq_length() - n
        if extra > 0:
            self._kv.crop(-extra)  # a negative value removes that many tokens (every transformers version)
        return self._kv
