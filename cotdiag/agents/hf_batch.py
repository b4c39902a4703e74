"""One batched greedy generation for the episodes in flight, each on its own key/value cache.

On a CPU, decoding one token of a small model costs about as much for 8 sequences as for 1 (reading
the weights dominates), while the prompt of a conversation turn is mostly cached from the previous
turn (``benchmarks/batched_episodes.py`` measures the gain on ALFWorld). :func:`act_slots` therefore runs, for the
episodes of a vector env, each episode's *new* tokens on its own cache (as :meth:`HFPolicy.act`
does), stacks the caches left-padded into one ``StaticCache`` (written in place per decoded token;
``benchmarks/batched_cache.py`` measures it against a ``DynamicCache``), decodes all episodes
together with ``model.generate``, and gives each episode its part of the cache back. Positions follow the
attention mask (``generate`` derives them from its cumulative sum), so a left-padded row sees the
same positions and keys as when it runs alone: greedy actions equal :meth:`HFPolicy.act`'s up to
floating-point summation order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from cotdiag.agents.hf_cache import CACHE_KWARG

if TYPE_CHECKING:
    from cotdiag.agents.hf import HFPolicy


def batchable(policies: Sequence[Any]) -> bool:
    """Whether :func:`act_slots` can serve ``policies`` in one call: two or more greedy
    :class:`~cotdiag.agents.hf.HFPolicy` objects sharing one model (e.g. the per-slot copies of
    :func:`cotdiag.rollout.loop.vector_episodes`). Sampling policies are served one by one, so a
    run's sampled actions stay those of its per-episode seeds."""
    from cotdiag.agents.hf import HFPolicy

    if len(policies) < 2 or not all(isinstance(p, HFPolicy) for p in policies):
        return False
    first = policies[0]
    return all(p.model is first.model and not p.do_sample and p.settings() == first.settings() for p in policies)


def act_slots(policies: Sequence[HFPolicy], observations: Sequence[Any],
              infos: Sequence[dict[str, Any]]) -> list[str]:
    """``[p.act(o, i) for p, o, i in zip(policies, observations, infos)]``, generated in one batch.

    Args:
        policies: per-episode copies of one greedy policy (see :func:`batchable`); each keeps its
            episode's cache (``_kv``, ``_kv_ids``), as :meth:`HFPolicy.act` leaves it.
        observations, infos: one state per policy.

    Returns:
        One completion per policy, in order (with ``action_selection="score"`` the action is the
        best-scoring admissible one, scored on that policy's cache).

    Raises:
        cotdiag.error.InvalidConfigError: the three sequences differ in length, or
            :func:`batchable` is false.
    """
    from cotdiag.error import InvalidConfigError

    if not len(policies) == len(observations) == len(infos):
        raise InvalidConfigError(f"expected one observation and info per policy, got {len(policies)}, "
                                 f"{len(observations)} and {len(infos)}")
    if not batchable(policies):
        raise InvalidConfigError("act_slots needs two or more greedy HFPolicy copies of one model")
    texts = [p.model_text(o, i) for p, o, i in zip(policies, observations, infos, strict=True)]
    completions = _generate(policies, texts)
    out = []
    for p, text, completion, info in zip(policies, texts, completions, infos, strict=True):
        admissible = info.get("admissible_actions")
        if p.action_selection == "score" and admissible:
            completion = p._select(text, completion, list(admissible))
        out.append(completion)
    return out


def _generate(policies: Sequence[HFPolicy], texts: Sequence[str]) -> list[str]:
    """Greedy completions of ``texts``, one per policy, each prompt run on its policy's cache."""
    first = policies[0]
    torch, tok, model = first._torch, first.tokenizer, first.model
    ids = [tok(t, add_special_tokens=False, truncation=True, max_length=first.max_prompt_tokens)["input_ids"]
           for t in texts]
    caches = []
    with torch.inference_mode():
        for p, row in zip(policies, ids, strict=True):  # each prompt but its last token, on its own cache
            caches.append(p._extend_cache(row, len(row) - 1)[0])
        width = max(len(r) for r in ids)
        pads = [width - len(r) for r in ids]
        input_ids = torch.tensor([[tok.pad_token_id] * k + r for k, r in zip(pads, ids, strict=True)],
                                 device=first.device)
        mask = torch.tensor([[0] * k + [1] * len(r) for k, r in zip(pads, ids, strict=True)], device=first.device)
        merged = _stack(caches, pads, torch, model.config, width - 1 + first.max_new_tokens)
        out = model.generate(input_ids=input_ids, attention_mask=mask, **first.generation_kwargs(),
                             **{CACHE_KWARG: merged}, return_dict_in_generate=True)
    seqs = out.sequences
    length = int(merged.get_seq_length())
    completions = []
    for b, (p, k) in enumerate(zip(policies, pads, strict=True)):
        p._kv = _row(merged, b, k)
        p._kv_ids = seqs[b, k:length].tolist()
        p._calls += 0 if p is first else 1  # generation_kwargs counted the first policy's call
        completions.append(p.completion(seqs[b, width:].tolist()))
    return completions


def _stack(caches: Sequence[Any], pads: Sequence[int], torch: Any, config: Any, size: int) -> Any:
    """One ``StaticCache`` of batch ``len(caches)`` and ``size`` positions holding each row's keys and
    values left-padded with zeros by ``pads[b]`` positions (masked out by the attention mask); a
    ``DynamicCache`` when no row has any. Static, so that each decoded token is written in place:
    a ``DynamicCache`` concatenates the whole batch's keys and values again at every token, about a
    quarter of the decoding time late in ALFWorld episodes here."""
    from transformers import DynamicCache, StaticCache

    ref = next((c for c in caches if c.get_seq_length() > 0), None)
    if ref is None:  # one-token prompts: nothing cached yet
        return DynamicCache()
    merged = StaticCache(config=config, max_cache_len=size)
    for layer_idx, layer in enumerate(ref.layers):
        keys, values = [], []
        for c, k in zip(caches, pads, strict=True):
            if c.get_seq_length() > 0:
                kk, vv = c.layers[layer_idx].keys, c.layers[layer_idx].values
            else:  # a row with no cached token is all padding
                kk, vv = layer.keys[:, :, :0], layer.values[:, :, :0]
            keys.append(torch.nn.functional.pad(kk, (0, 0, k, 0)))
            values.append(torch.nn.functional.pad(vv, (0, 0, k, 0)))
        merged.update(torch.cat(keys), torch.cat(values), layer_idx)
    return merged


def _row(merged: Any, b: int, pad: int) -> Any:
    """Row ``b`` of a stacked cache without its ``pad`` leading positions, up to the cache's length,
    as a ``DynamicCache``."""
    from transformers import DynamicCache

    n = int(merged.get_seq_length())
    cache = DynamicCache()
    for layer_idx, layer in enumerate(merged.layers):
        cache.update(layer.keys[b : b + 1, :, pad:n].clone(), layer.values[b : b + 1, :, pad:n].clone(), layer_idx)
    return cache
