"""A policy backed by a local Hugging Face causal LM (``hf:PATH``).

The policy turns the observation (the prompt a decoding wrapper rendered) into the model input with
:func:`~cotdiag.response.prompt.build_model_text`, continues from ``info["prefill"]``, stops at the closing action tag and
returns the completion *without* the prefill (what :func:`cotdiag.response.parse_response`
expects). :func:`~cotdiag.response.prompt.build_model_text` is also what the SFT data pipeline uses, so training and
inference inputs are identical.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cotdiag.agents.base import BasePolicy
from cotdiag.agents.hf_cache import (
    ACTION_SELECTIONS,
    CACHE_KWARG,
    CacheScoringMixin,
    check_model_folder,
    common_prefix_len,
)
from cotdiag.agents.pretrained import auto_device_dtype, load_causal_lm, resolve_model
from cotdiag.error import InvalidConfigError
from cotdiag.response.format import DEFAULT_FORMAT, ResponseFormat
from cotdiag.response.prompt import build_model_text
from cotdiag.response.protocol import DecodingProtocol, fit_conversation, load_protocol

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ContinuationScore:
    """Log-probability of a continuation under the model.

    Attributes:
        tokens: the continuation's tokens (``list[str]``, length ``T``).
        token_logprobs: natural-log probability of each token given everything before it
            (``list[float]``, length ``T``, each ``<= 0``).
        total: ``sum(token_logprobs)`` (nats; ``0.0`` for an empty continuation).
    """

    tokens: list[str]
    token_logprobs: list[float]
    total: float


class HFPolicy(CacheScoringMixin, BasePolicy):
    """Generate actions with a Hugging Face causal LM.

    Args:
        model: a local path, a hub id, a named model (``"smollm2-135m"``, see
            :mod:`cotdiag.agents.pretrained`), or an already loaded ``PreTrainedModel``.
        tokenizer: the tokenizer (default: loaded from ``model``'s path). Left padding is forced
            for batched generation.
        device: ``"cuda"``, ``"cpu"``, ... (default: GPU when present).
        dtype: ``"float32"``, ``"bfloat16"``, ... (default: see :func:`auto_device_dtype`).
        do_sample: sample (``True``) or decode greedily (``False``, default).
        temperature: sampling temperature (ignored when greedy).
        top_p: nucleus sampling mass (ignored when greedy).
        max_new_tokens: generation budget per response, in tokens.
        seed: seed of sampling; :meth:`reset` with a seed re-seeds it. Each generation call seeds
            ``torch`` with ``seed + number of calls since reset``, so an episode is reproducible.
        batch_size: largest batch of :meth:`act_batch` forwarded at once.
        use_chat_template: ``None`` uses the tokenizer's chat template when it has one.
        max_prompt_tokens: prompts longer than this keep their last tokens, and conversations drop
            their oldest middle turns (:func:`~cotdiag.response.protocol.fit_conversation`) to fit
            (default: the protocol's ``max_context_tokens - max_new_tokens`` when the model folder
            holds one, else the model's ``max_position_embeddings - max_new_tokens``).
        context_drop_block: such a conversation drops its turn pairs in multiples of this
            (``fit_conversation``'s ``block``; 1, the default, as in training; larger keeps the
            previous turn's cache valid for several turns).
        fmt: the response tags (generation stops after ``fmt.action_close``).
        action_selection: ``"generate"`` (default: the generated action is the action) or
            ``"score"``: the response is generated as usual, then the action is the admissible
            action (``info["admissible_actions"]``) with the highest summed token log-probability
            after the response prefix (prompt mode: after the ``<action>`` prefill; CoT mode: after
            the generated reasoning and ``<action>``), scored with the key/value cache of that
            prefix (TPD-style admissible-action scoring). ``last_step`` records the ``generated``
            and the ``chosen`` action. States without admissible actions keep the generated one.

    Raises:
        InvalidConfigError: non-positive ``max_new_tokens``/``batch_size`` or ``temperature``.

    Example:
        >>> policy = HFPolicy("runs/demo/model")  # doctest: +SKIP
        >>> policy.act(prompt, {"prefill": "<action>"})  # doctest: +SKIP
        'go to desk 1</action>'
    """

    name = "hf"

    def __init__(
        self,
        model: str | Path | PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase | None = None,
        *,
        device: str | None = None,
        dtype: str | None = None,
        do_sample: bool = False,
        temperature: float = 1.0,
        top_p: float = 1.0,
        max_new_tokens: int = 128,
        seed: int | None = None,
        batch_size: int = 8,
        use_chat_template: bool | None = None,
        max_prompt_tokens: int | None = None,
        context_drop_block: int = 1,
        fmt: ResponseFormat = DEFAULT_FORMAT,
        action_selection: str = "generate",
    ) -> None:
        import torch
        from transformers import AutoTokenizer

        if max_new_tokens <= 0 or batch_size <= 0 or context_drop_block <= 0:
            raise InvalidConfigError(
                f"expected max_new_tokens, batch_size and context_drop_block > 0, "
                f"got {max_new_tokens}, {batch_size} and {context_drop_block}"
            )
        if do_sample and temperature <= 0:
            raise InvalidConfigError(f"expected temperature > 0 when sampling, got {temperature}")
        if action_selection not in ACTION_SELECTIONS:
            raise InvalidConfigError(f"expected action_selection in {list(ACTION_SELECTIONS)}, got {action_selection!r}")
        self.action_selection = action_selection
        #: Details of the last :meth:`act` (``{"generated", "chosen"}`` under ``action_selection="score"``).
        self.last_step: dict[str, Any] | None = None
        self.device, self.dtype = auto_device_dtype(device, dtype)
        #: The decoding protocol saved with the model (``None`` when its folder has none).
        self.protocol: DecodingProtocol | None = None
        if isinstance(model, str | Path):
            self.name = f"hf:{model}"
            path = resolve_model(model)
            check_model_folder(path)
            self.model = load_causal_lm(path, dtype=self.dtype)
            self.protocol = load_protocol(path) if Path(path).is_dir() else None
        else:
            self.model = model
            path = getattr(model, "name_or_path", None) or str(getattr(model.config, "_name_or_path", ""))
            self.name = f"hf:{path}" if path else "hf"
        if tokenizer is None:
            tokenizer = AutoTokenizer.from_pretrained(path)
        tokenizer.padding_side = "left"
        tokenizer.truncation_side = "left"  # long prompts keep their end (the current state)
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        self.tokenizer = tokenizer
        self.model.to(self.device)
        self.model.eval()
        self.do_sample, self.temperature, self.top_p = do_sample, temperature, top_p
        self.max_new_tokens, self.batch_size = max_new_tokens, batch_size
        self.use_chat_template, self.fmt = use_chat_template, fmt
        n_pos = getattr(self.model.config, "max_position_embeddings", None) or 4096
        if self.protocol is not None:
            n_pos = min(n_pos, self.protocol.max_context_tokens)
        self.max_prompt_tokens = max_prompt_tokens or max(1, n_pos - max_new_tokens)
        self.context_drop_block = context_drop_block
        self._seed = seed
        self._calls = 0
        # Stop ids: EOS, plus the closing tag when it is a single token; else stop strings.
        eos = self.model.generation_config.eos_token_id
        eos_ids = [eos] if isinstance(eos, int) else list(eos or [])
        if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in eos_ids:
            eos_ids.append(tokenizer.eos_token_id)
        close_ids = tokenizer.encode(fmt.action_close, add_special_tokens=False)
        self._stop_strings: list[str] | None = None
        if len(close_ids) == 1:
            eos_ids.append(close_ids[0])
        else:
            self._stop_strings = [fmt.action_close]
        self._eos_ids = eos_ids
        self._torch = torch
        #: Key/value cache of the last single-state call and the token ids it covers: a conversation's
        #: next turn extends the previous model input, so only the new tokens are run.
        self._kv: Any = None
        self._kv_ids: list[int] = []
        #: Generated tokens (``int``), summed over calls (for throughput measurements).
        self.generated_tokens = 0

    # ------------------------------------------------------------------ policy API
    def settings(self) -> dict[str, Any]:
        """The settings that change which actions this policy takes, as JSON (recorded in a run's
        ``config.json``, so a resumed run with other settings is refused): dtype, generation budget and
        sampling, prompt truncation (``context_drop_block`` only when not 1, so earlier runs resume),
        chat template, action selection."""
        return {"dtype": str(self.dtype).removeprefix("torch."), "max_new_tokens": self.max_new_tokens,
                "do_sample": self.do_sample, "temperature": self.temperature, "top_p": self.top_p,
                "max_prompt_tokens": self.max_prompt_tokens, "use_chat_template": self.use_chat_template,
                "action_selection": self.action_selection,
                **({"context_drop_block": self.context_drop_block} if self.context_drop_block != 1 else {})}

    def reset(self, seed: int | None = None) -> None:
        """Re-seed sampling (``seed=None`` keeps the current seed), restart the call counter and drop
        the episode's key/value cache."""
        if seed is not None:
            self._seed = seed
        self._calls = 0
        self._kv = None
        self._kv_ids: list[int] = []

    def replay(self, action: str) -> None:
        """Advance as if :meth:`act` had returned ``action`` (a resumed episode's recorded step, see
        :mod:`cotdiag.rollout.loop`): the sampling seed counter moves on; the next call prefills."""
        self._calls += 1

    def model_text(self, observation: str, info: dict[str, Any]) -> str:
        """The model input for one state: see :func:`~cotdiag.response.prompt.build_model_text` (uses ``info["prefill"]`` and
        ``info["messages"]`` when present). A conversation longer than ``max_prompt_tokens`` drops its
        oldest middle turns (:func:`~cotdiag.response.protocol.fit_conversation`)."""
        prefill = str(info.get("prefill") or "")
        messages = info.get("messages") or getattr(observation, "messages", None)

        def text(msgs: Any) -> str:
            return build_model_text(self.tokenizer, observation, prefill, messages=msgs,
                                    use_chat_template=self.use_chat_template)

        if messages and len(messages) > 3:
            messages = fit_conversation(
                messages, lambda m: len(self.tokenizer(text(m), add_special_tokens=False)["input_ids"]),
                self.max_prompt_tokens, self.context_drop_block)
        return text(messages)

    def act(self, observation: str, info: dict[str, Any]) -> str:
        """Return the completion after ``info["prefill"]`` (prefill excluded), cut after ``</action>``.

        With ``action_selection="score"`` the action inside the completion is replaced by the best
        scoring admissible action (see the class docstring)."""
        text = self.model_text(observation, info)  # rendered once: generation and scoring share it
        completion = self.generate([text])[0]
        admissible = info.get("admissible_actions")
        if self.action_selection != "score" or not admissible:
            return completion
        return self._select(text, completion, list(admissible))

    def act_batch(self, observations: Sequence[str], infos: Sequence[dict[str, Any]]) -> list[str]:
        """Generate for many states at once (left padding, chunks of ``batch_size``).

        Returns:
            One completion per observation, in order; greedy results equal :meth:`act`'s.

        Raises:
            ValueError: ``observations`` and ``infos`` differ in length.
        """
        if len(observations) != len(infos):
            raise InvalidConfigError(f"expected as many infos as observations, got {len(infos)} and {len(observations)}")
        texts = [self.model_text(o, i) for o, i in zip(observations, infos, strict=True)]
        out: list[str] = []
        for k in range(0, len(texts), self.batch_size):
            out.extend(self.generate(texts[k : k + self.batch_size]))
        return out

    # ------------------------------------------------------------------ generation and scoring
    def generate(self, texts: Sequence[str]) -> list[str]:
        """Continue each model input text; returns the new text, cut after the closing action tag.

        Args:
            texts: full model inputs (see :meth:`model_text`); batched with left padding.

        Returns:
            ``list[str]`` of completions (special tokens other than the response tags removed).
        """
        torch = self._torch
        tok = self.tokenizer
        enc = tok(list(texts), return_tensors="pt", padding=True, add_special_tokens=False,
                  truncation=True, max_length=self.max_prompt_tokens)
        enc = {k: v.to(self.device) for k, v in enc.items()}
        cache = self._reusable_cache(enc["input_ids"]) if len(texts) == 1 else None
        kwargs = self.generation_kwargs()
        with torch.inference_mode():
            if cache is not None:
                out = self.model.generate(**enc, **kwargs, **{CACHE_KWARG: cache}, return_dict_in_generate=True)
                gen = out.sequences
                self._kv = cache  # filled in place by generate
                self._kv_ids = gen[0, : self._kv.get_seq_length()].tolist()
            else:
                gen = self.model.generate(**enc, **kwargs)
        return [self.completion(row) for row in gen[:, enc["input_ids"].shape[1]:].tolist()]

    def generation_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``model.generate`` for one call: budget, stop ids and strings, greedy or
        sampling (seeded with the policy's seed plus the call count, so a run replays)."""
        tok = self.tokenizer
        kwargs: dict[str, Any] = dict(
            max_new_tokens=self.max_new_tokens, do_sample=self.do_sample,
            eos_token_id=self._eos_ids, pad_token_id=tok.pad_token_id,
        )
        if self.do_sample:
            kwargs.update(temperature=self.temperature, top_p=self.top_p)
            self._torch.manual_seed((self._seed or 0) + self._calls)
        else:
            kwargs.update(temperature=None, top_p=None, top_k=None)
        if self._stop_strings:
            kwargs.update(stop_strings=self._stop_strings, tokenizer=tok)
        self._calls += 1
        return kwargs

    def completion(self, new_ids: Sequence[int]) -> str:
        """The text of generated token ids ``new_ids``: special tokens other than the response tags
        removed, cut after the closing action tag (counted in :attr:`generated_tokens`)."""
        tok = self.tokenizer
        text = tok.decode(list(new_ids), skip_special_tokens=False)
        for s in {t for t in (tok.eos_token, tok.pad_token, tok.bos_token) if t}:
            text = text.replace(s, "")
        cut = text.find(self.fmt.action_close)
        if cut >= 0:
            text = text[: cut + len(self.fmt.action_close)]
        self.generated_tokens += sum(1 for t in new_ids if t != tok.pad_token_id)
        return text

    def score(self, prompt: str, continuation: str, *, prefill: str = "",
              messages: Sequence[dict[str, str]] | None = None) -> ContinuationScore:
        """Log-probability of ``continuation`` after ``prompt`` (and ``prefill``).

        The model input is ``build_model_text(tokenizer, prompt, prefill, messages=messages)``; the
        continuation's tokens are those of ``input + continuation`` after the longest common token
        prefix with ``input`` alone (so a merge across the boundary is attributed to the
        continuation). ``log p(x_t | x_<t)`` comes from a ``log_softmax`` of the logits at ``t - 1``.

        Args:
            prompt: the rendered prompt of the state.
            continuation: e.g. the expert action plus ``"</action>"`` after the ``"<action>"`` prefill.
            prefill: the response prefix already given (``info["prefill"]``).
            messages: chat messages (see :func:`~cotdiag.response.prompt.build_model_text`).

        Returns:
            :class:`ContinuationScore` with per-token and summed log-probabilities (nats).
        """
        return self.score_batch([prompt], [continuation], prefills=[prefill],
                                messages=[messages] if messages else None)[0]

    def score_batch(
        self,
        prompts: Sequence[str],
        continuations: Sequence[str],
        *,
        prefills: Sequence[str] | None = None,
        messages: Sequence[Sequence[dict[str, str]] | None] | None = None,
    ) -> list[ContinuationScore]:
        """:meth:`score` for many pairs (right padding, chunks of ``batch_size``).

        A context longer than ``max_prompt_tokens`` keeps its last ``max_prompt_tokens`` tokens, the
        truncation :meth:`generate` applies, so scores and generations see the same input.

        Raises:
            cotdiag.error.InvalidConfigError: the sequences differ in length.
        """
        torch = self._torch
        n = len(prompts)
        prefills = list(prefills) if prefills is not None else [""] * n
        msgs = list(messages) if messages is not None else [None] * n
        if not (len(continuations) == len(prefills) == len(msgs) == n):
            raise InvalidConfigError("expected prompts, continuations, prefills and messages of the same length")
        tok = self.tokenizer
        seqs: list[tuple[list[int], int]] = []
        for p, c, pf, m in zip(prompts, continuations, prefills, msgs, strict=True):
            ctx = build_model_text(tok, p, pf, messages=m, use_chat_template=self.use_chat_template)
            ctx_ids = tok(ctx, add_special_tokens=False)["input_ids"]
            full = tok(ctx + c, add_special_tokens=False)["input_ids"]
            k = common_prefix_len(ctx_ids, full)
            drop = max(0, k - self.max_prompt_tokens)  # keep the context's end, as generate() does
            full, k = full[drop:], k - drop
            k = max(k, 1)  # the first token has no prediction
            seqs.append((full, k))
        results: list[ContinuationScore] = []
        pad = tok.pad_token_id
        for b in range(0, n, self.batch_size):
            chunk = seqs[b : b + self.batch_size]
            width = max(len(s) for s, _ in chunk)
            ids = torch.full((len(chunk), width), pad, dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for i, (s, _) in enumerate(chunk):
                ids[i, : len(s)] = torch.tensor(s)
                mask[i, : len(s)] = 1
            with torch.inference_mode():
                logits = self.model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device)).logits
                logp = torch.log_softmax(logits.float(), dim=-1)
            for i, (s, k) in enumerate(chunk):
                targets = torch.tensor(s[k:], device=logp.device)
                lp = logp[i, k - 1 : len(s) - 1].gather(-1, targets[:, None])[:, 0].tolist()
                results.append(ContinuationScore(tok.convert_ids_to_tokens(s[k:]), lp, float(sum(lp))))
        return results


def make_hf_policy(arg: str, seed: int | None, **kwargs: Any) -> HFPolicy:
    """Factory of ``hf:PATH`` for :func:`cotdiag.agents.registry.make_policy`.

    Raises:
        InvalidConfigError: empty ``PATH``.
    """
    if not arg:
        raise InvalidConfigError("expected hf:PATH_OR_HUB_ID, got an empty path")
    return HFPolicy(arg, seed=seed, **kwargs)
