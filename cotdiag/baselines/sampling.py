"""Sampling the policy's completions inside a TRL ``rollout_func``: one batched ``generate`` call
that returns each row's token ids and the log-probabilities they were sampled with.

Both GRPO paths generate here (:class:`cotdiag.baselines.grpo.StepRollout`, one completion per
recorded state; :class:`cotdiag.baselines.episodes.EpisodeRollout`, one turn per live episode), with
the trainer's sampling settings (``temperature``, ``top_p``, ``top_k``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cotdiag.response.format import DEFAULT_FORMAT, ResponseFormat


def sample_completions(
    trainer: Any,
    contexts: Sequence[Sequence[int]],
    max_new_tokens: int,
    *,
    stop_at_action: bool,
    fmt: ResponseFormat = DEFAULT_FORMAT,
) -> list[tuple[list[int], list[float]]]:
    """Sample one completion per context (a left-padded batch) with ``trainer.model``.

    Args:
        trainer: the ``GRPOTrainer`` (its ``model``, ``processing_class`` and ``args`` sampling settings).
        contexts: the model inputs, token ids (``list[int]`` each, unpadded).
        max_new_tokens: generation budget per completion.
        stop_at_action: ``True``: a completion ends after the closing action tag (an episode's turn;
            an end-of-sequence token is kept only when it comes first, so a turn is never empty);
            ``False``: it ends with its first end-of-sequence token, kept, as TRL's own generation does
            (so ``mask_truncated_completions`` reads a completion without it as truncated).
        fmt: the response tags.

    Returns:
        ``[(ids, logprobs)]`` per context: the completion's token ids and each token's log-probability
        under the sampling distribution (``float``, natural log), of equal lengths.
    """
    import torch

    tok, model, args = trainer.processing_class, trainer.model, trainer.args
    width = max(len(c) for c in contexts)
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    input_ids = torch.tensor([[pad] * (width - len(c)) + list(c) for c in contexts])
    attention = torch.tensor([[0] * (width - len(c)) + [1] * len(c) for c in contexts])
    stop = {"stop_strings": [fmt.action_close], "tokenizer": tok} if stop_at_action else {}
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model.generate(
                input_ids=input_ids.to(model.device), attention_mask=attention.to(model.device),
                max_new_tokens=max_new_tokens, do_sample=True, temperature=args.temperature, top_p=args.top_p,
                top_k=args.top_k, pad_token_id=pad, output_scores=True, return_dict_in_generate=True, **stop,
            )
    finally:
        model.train(was_training)
    new = out.sequences[:, width:]
    # log-probability of each sampled token under the sampling distribution, one step at a time
    chosen = torch.stack([s.float().log_softmax(-1).gather(1, new[:, j : j + 1]).squeeze(1)
                          for j, s in enumerate(out.scores)], dim=1)
    return [trim_completion(row, chosen[i].tolist(), tok, stop_at_action=stop_at_action, fmt=fmt)
            for i, row in enumerate(new.tolist())]


def trim_completion(row: Sequence[int], logps: Sequence[float], tok: Any, *, stop_at_action: bool,
                    fmt: ResponseFormat = DEFAULT_FORMAT) -> tuple[list[int], list[float]]:
    """Cut a generated row where its completion ends (see :func:`sample_completions`'s ``stop_at_action``)."""
    eos = {tok.eos_token_id, tok.pad_token_id} - {None}
    ids: list[int] = []
    for tid in row:
        if tid in eos:
            if not ids or not stop_at_action:  # TRL keeps the end token; a turn is never empty
                ids.append(tid)
            break
        ids.append(tid)
        if stop_at_action and fmt.action_close in tok.decode(ids[-8:], skip_special_tokens=False):
            break
    return ids, [float(x) for x in logps[: len(ids)]]
