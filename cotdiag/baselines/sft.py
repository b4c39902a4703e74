"""SFT with reduced action supervision (the study's intervention), on TRL's ``SFTTrainer``.

Design (TRL's documented hooks only, no forked trainer):

1. :func:`tokenize_sft_dataset` turns the expert dataset (:mod:`cotdiag.baselines.data`) into
   tokenized rows (``input_ids``, ``labels``, ``action_token_mask``, ``mask_action``), which
   ``SFTTrainer`` uses as is: :func:`cotdiag.response.build_model_text` of the prompt (the input of
   :class:`~cotdiag.agents.HFPolicy` at inference), the response and EOS; ``labels`` are ``-100``
   on the prompt (loss only on the response).
2. A seeded random set of ``round(k * n)`` examples gets ``mask_action=True`` (``k`` =
   :attr:`ActionMaskSFTConfig.action_mask_ratio`); the indices are written to
   ``output_dir/action_mask.json``.
3. :class:`ActionMaskingCollator` (a subclass of TRL's ``DataCollatorForLanguageModeling``) sets
   the labels of the *action tokens* of those examples to ``-100``; tags and reasoning stay
   supervised (docs/concepts.md (arXiv 2606.26935), "The intervention").

Response formats (:attr:`ActionMaskSFTConfig.response_format`): ``cot`` (CoT-mode prompt, response
``<think>TRACE</think><action>ACTION</action>``), ``prompt`` (prompt-mode prompt, response
``<action>ACTION</action>``: prefilled at inference, supervised like any tag in training), ``mixed``
(each example ``cot`` or ``prompt`` with probability 1/2, seeded).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from transformers.trainer_utils import SchedulerType
from trl import SFTConfig
from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

from cotdiag.baselines.checkpoints import (
    ProvenanceCallback,
    cast_saved_weights,
    load_trainable,
    resume_checkpoint,
    save_dtype_for,
    write_provenance,
)
from cotdiag.baselines.conversation import decision_ids, tokenize_conversation
from cotdiag.baselines.precision import (
    auto_bf16,
    cuda_available,
    stochastic_rounding_optimizer,
    weights_dtype,
)
from cotdiag.baselines.recovery import with_recovery_turns
from cotdiag.baselines.tiny import load_or_build_model
from cotdiag.error import InvalidConfigError
from cotdiag.response.format import DEFAULT_FORMAT, ResponseFormat
from cotdiag.response.prompt import build_model_text
from cotdiag.response.protocol import DecodingProtocol, span_token_mask

if TYPE_CHECKING:
    from datasets import Dataset
    from transformers import PreTrainedTokenizerBase

logger = logging.getLogger(__name__)

#: Response formats of SFT examples.
RESPONSE_FORMATS: tuple[str, ...] = ("cot", "prompt", "mixed")
#: Label value ignored by the loss (``torch.nn.CrossEntropyLoss(ignore_index=-100)``).
IGNORE_INDEX = -100


@dataclass
class ActionMaskSFTConfig(SFTConfig):
    """TRL ``SFTConfig`` plus the study's reduced action supervision.

    Defaults changed from ``SFTConfig`` (the study's settings; ``cotdiag train sft`` takes every
    field as an option): ``bf16`` on GPUs and CPUs with native bfloat16
    (:mod:`cotdiag.baselines.precision`), ``remove_unused_columns=False`` (the collator needs the
    mask columns), ``save_strategy="steps"`` with ``save_steps=50`` (the diagnostics sweep
    checkpoints), ``save_only_model=True``, ``report_to="none"``,
    ``max_length=2048`` (longer examples lose the start of the prompt, as the HF policy truncates at
    inference), ``lr_scheduler_type="cosine"`` with ``warmup_steps=10``, ``logging_steps=5``.
    """

    action_mask_ratio: float = field(
        default=0.0,
        metadata={"help": "Fraction k of examples whose action tokens get no loss (0: ordinary SFT)."},
    )
    response_format: str = field(
        default="cot", metadata={"help": "Training response: 'cot', 'prompt' or 'mixed'.", "choices": list(RESPONSE_FORMATS)}
    )
    recovery_rate: float = field(default=0.0, metadata={
        "help": "Conversation data: probability that an expert decision is preceded by a failed action (no "
                "loss) and the env's 'invalid action' feedback, so the model learns to recover "
                "(cotdiag.baselines.recovery; 0: the expert episodes as recorded)."})
    mask_seed: int | None = field(
        default=None, metadata={"help": "Seed choosing the masked examples and mixed formats (None: seed)."}
    )
    remove_unused_columns: bool = field(
        default=False, metadata={"help": "Keep the mask columns for the collator (must stay False)."}
    )
    save_strategy: str = field(default="steps", metadata={"help": "Checkpoint strategy ('steps', 'epoch', 'no')."})
    save_steps: float = field(default=50, metadata={"help": "Checkpoint interval in optimizer steps."})
    report_to: str = field(default="none", metadata={"help": "Experiment tracker: 'none', 'all' or one name (wandb, tensorboard, ...)."})
    max_length: int | None = field(default=2048, metadata={"help": "Longest training sequence in tokens."})
    bf16: bool | None = field(default=None, metadata={
        "help": "bfloat16 autocast with float32 master weights (None: on GPUs that support it and on CPUs "
                "with native bfloat16, AVX512_BF16 or AMX, where it measured 1.5x float32's tokens/s with "
                "the same loss, benchmarks/results/cpu_training.json; false: float32)."})
    logging_steps: float = field(default=5, metadata={"help": "Log the loss every this many optimizer steps."})
    lr_scheduler_type: SchedulerType | str = field(default="cosine", metadata={"help": "Learning-rate schedule (the study's: cosine)."})
    warmup_steps: float = field(default=10, metadata={"help": "Linear warm-up steps."})
    save_only_model: bool = field(default=True, metadata={"help": "Checkpoints hold the model only (no optimizer state)."})
    lora_r: int = field(default=0, metadata={
        "help": "LoRA rank on every linear layer (peft); 0 trains all weights. The base stays frozen in "
                "--model_dtype, the adapters train in float32; the output folder holds the adapter only."})
    lora_alpha: int | None = field(default=None, metadata={"help": "LoRA scaling alpha (None: 2 * lora_r)."})
    model_dtype: str = field(default="auto", metadata={
        "help": "Dtype of the loaded weights: 'float32', 'bfloat16', or 'auto' (bfloat16 for a LoRA base "
                "under --bf16, else float32; full fine-tuning keeps float32 master weights).",
        "choices": ["auto", "float32", "bfloat16"]})
    bf16_stochastic_round: bool = field(default=False, metadata={
        "help": "Train bfloat16 weights (--model_dtype bfloat16, --lora_r 0) with torchao's AdamW and "
                "bfloat16 stochastic rounding, so updates below bfloat16's spacing are not lost "
                "(cotdiag.baselines.precision; needs torchao)."})
    save_dtype: str = field(default="auto", metadata={
        "help": "Dtype of saved full-model weights: 'auto' (bfloat16 under --bf16 or bfloat16 weights, else "
                "float32), 'float32' (exact master weights for resuming), 'bfloat16' (half the size).",
        "choices": ["auto", "float32", "bfloat16"]})

    def __post_init__(self) -> None:
        if self.bf16 is None:
            self.bf16 = auto_bf16(cpu=True)
        if self.bf16 and not cuda_available():
            self.use_cpu = True  # bfloat16 autocast on the CPU (transformers refuses bf16 without a GPU otherwise)
        if not 0.0 <= float(self.recovery_rate) <= 1.0:
            raise InvalidConfigError(f"expected recovery_rate in [0, 1], got {self.recovery_rate!r}")
        if not 0.0 <= float(self.action_mask_ratio) <= 1.0:
            raise InvalidConfigError(f"expected action_mask_ratio in [0, 1], got {self.action_mask_ratio!r}")
        if int(self.lora_r) < 0:
            raise InvalidConfigError(f"expected lora_r >= 0, got {self.lora_r!r}")
        if self.max_steps and self.max_steps > 0 and self.warmup_steps >= self.max_steps:
            logger.warning("warmup_steps >= max_steps: the learning rate never reaches %s", self.learning_rate)
        if self.bf16_stochastic_round and (self.model_dtype != "bfloat16" or int(self.lora_r)):
            raise InvalidConfigError("--bf16_stochastic_round trains bfloat16 weights: it needs --model_dtype bfloat16 "
                                     f"and --lora_r 0, got {self.model_dtype} and {self.lora_r}")
        if self.response_format not in RESPONSE_FORMATS:
            raise InvalidConfigError(f"expected response_format in {list(RESPONSE_FORMATS)}, got {self.response_format!r}")
        super().__post_init__()


def tokenize_example(
    tokenizer: PreTrainedTokenizerBase,
    prompt: str,
    action: str,
    trace: str | None = None,
    *,
    fmt: ResponseFormat = DEFAULT_FORMAT,
    max_length: int | None = None,
    use_chat_template: bool | None = None,
) -> dict[str, list[int]]:
    """Tokenize one SFT example and locate its response and action tokens.

    The text is ``build_model_text(tokenizer, prompt) + response + eos`` with response
    ``<think>trace</think><action>action</action>`` (``trace`` given) or ``<action>action</action>``
    (``trace=None``). Tokens are attributed to spans by character offsets: a token is in the
    response when it starts at or after the response's first character, and an action token when
    its span overlaps the action text (between the action tags).

    Args:
        tokenizer: a fast tokenizer (offset mapping required).
        prompt: the rendered prompt.
        action: the action text.
        trace: the reasoning, or ``None`` for the prompt format.
        fmt: the response tags.
        max_length: drop tokens from the start (the prompt side) beyond this length.
        use_chat_template: see :func:`cotdiag.response.build_model_text`.

    Returns:
        ``{"input_ids": list[int] (L,), "labels": list[int] (L,) with -100 on the prompt,
        "action_token_mask": list[int] (L,) with 1 on action tokens}``.
    """
    context = build_model_text(tokenizer, prompt, "", use_chat_template=use_chat_template)
    if trace is None:
        head = fmt.action_open
    else:
        head = f"{fmt.think_open}{trace}{fmt.think_close}{fmt.action_open}"
    resp_start = len(context)
    act_start = resp_start + len(head)
    act_end = act_start + len(action)
    text = context + head + action + fmt.action_close + (tokenizer.eos_token or "")
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids = list(enc["input_ids"])
    labels = [tid if s >= resp_start else IGNORE_INDEX for tid, (s, _e) in zip(ids, enc["offset_mapping"], strict=True)]
    amask = span_token_mask(enc["offset_mapping"], act_start, act_end)  # the protocol's span rule
    if max_length is not None and len(ids) > max_length:
        cut = len(ids) - max_length
        ids, labels, amask = ids[cut:], labels[cut:], amask[cut:]
    return {"input_ids": ids, "labels": labels, "action_token_mask": amask}


def choose_masked(n: int, ratio: float, seed: int) -> np.ndarray:
    """Boolean ``(n,)`` array with exactly ``round(ratio * n)`` ``True`` at seeded random positions."""
    rng = np.random.default_rng(seed)
    out = np.zeros(n, dtype=bool)
    out[rng.permutation(n)[: int(round(ratio * n))]] = True
    return out


def tokenize_sft_dataset(
    dataset: Dataset,
    tokenizer: PreTrainedTokenizerBase,
    config: ActionMaskSFTConfig,
    *,
    fmt: ResponseFormat = DEFAULT_FORMAT,
    show_admissible: bool = False,
) -> Dataset:
    """Tokenize an expert dataset for :func:`train_sft`.

    A *decision* is one assistant turn: a row of a per-state dataset, or one turn of a conversation
    row (:mod:`cotdiag.baselines.conversation`). ``k`` (``config.action_mask_ratio``) has one meaning
    for both: a seeded set of exactly ``round(k * n)`` of the ``n`` decisions gets no loss on its
    action tokens (the span rule of :func:`cotdiag.response.protocol.span_token_mask`). With
    ``recovery_rate`` > 0, conversation rows get failed actions before some decisions
    (:func:`cotdiag.baselines.recovery.with_recovery_turns`, seeded by ``mask_seed``/``seed``); those
    turns are context, not decisions.

    Args:
        dataset: per-state rows with ``prompt``, ``trace``, ``action`` and (for the prompt format)
            ``prompt_for_prompt_mode`` (falls back to ``prompt``); or conversation rows with
            ``messages`` and ``messages_prompt_mode``.
        tokenizer: the model's tokenizer.
        config: reads ``response_format``, ``action_mask_ratio``, ``recovery_rate``,
            ``mask_seed``/``seed``, ``max_length``.
        show_admissible: the data's protocol lists admissible actions in user turns (recovery
            turns' feedback then does too).

    Returns:
        A ``Dataset`` with ``input_ids``, ``labels``, ``action_token_mask``, ``masked_tokens``
        (``list[int]``: 1 on the action tokens whose loss is dropped), ``mask_action`` (``bool``: the
        example holds a masked decision), ``format`` (``"cot"``/``"prompt"``), ``example_index``
        (``int``: the dataset row), ``decisions`` (``list[int]``: the global decision ids trained)
        and ``recovery_turns`` (``int``: failed actions inserted in the row, on its first example).

    Raises:
        InvalidConfigError: ``recovery_rate`` > 0 on per-state rows.
    """
    from datasets import Dataset

    n = len(dataset)
    seed = config.seed if config.mask_seed is None else config.mask_seed
    if config.response_format == "mixed":
        formats = np.where(np.random.default_rng(seed + 1).random(n) < 0.5, "cot", "prompt")
    else:
        formats = np.array([config.response_format] * n)
    keys = ("input_ids", "labels", "action_token_mask", "decision", "format", "example_index", "recovery_turns")
    pieces: dict[str, list[Any]] = {k: [] for k in keys}
    cols = set(dataset.column_names)
    if config.recovery_rate and "messages" not in cols:
        raise InvalidConfigError("recovery_rate needs conversation data (build-data's default protocol), "
                                 "got per-state rows")
    offset = 0  # global id of the row's first decision
    recovery_rng = np.random.default_rng([seed, 7])
    for i, ex in enumerate(dataset):
        f = str(formats[i])
        if "messages" in cols:
            msgs = with_recovery_turns(ex, f, float(config.recovery_rate), recovery_rng,
                                       show_admissible=show_admissible, fmt=fmt)
            examples = tokenize_conversation(tokenizer, msgs, max_length=config.max_length, fmt=fmt)
            ids = decision_ids(msgs)
            n_dec, n_failed = sum(d >= 0 for d in ids), sum(d < 0 for d in ids)
        else:
            if f == "cot":
                prompt, trace = ex["prompt"], ex["trace"]
            else:
                prompt = ex["prompt_for_prompt_mode"] if "prompt_for_prompt_mode" in cols else ex["prompt"]
                trace = None
            t = tokenize_example(tokenizer, prompt, ex["action"], trace, fmt=fmt, max_length=config.max_length)
            examples = [{**t, "decision": [0 if lab != IGNORE_INDEX else -1 for lab in t["labels"]]}]
            n_dec, n_failed = 1, 0
        for j, t in enumerate(examples):
            for k in ("input_ids", "labels", "action_token_mask"):
                pieces[k].append(t[k])
            pieces["decision"].append([d + offset if d >= 0 else -1 for d in t["decision"]])
            pieces["format"].append(f)
            pieces["example_index"].append(i)
            pieces["recovery_turns"].append(n_failed if j == 0 else 0)
        offset += n_dec
    masked = choose_masked(offset, float(config.action_mask_ratio), seed)
    rows = {k: pieces[k] for k in ("input_ids", "labels", "action_token_mask", "format", "example_index",
                                   "recovery_turns")}
    rows["masked_tokens"] = [[int(a and d >= 0 and bool(masked[d])) for a, d in zip(am, dec, strict=True)]
                             for am, dec in zip(pieces["action_token_mask"], pieces["decision"], strict=True)]
    rows["decisions"] = [sorted({d for d in dec if d >= 0}) for dec in pieces["decision"]]
    rows["masked_decisions"] = [[d for d in ds if masked[d]] for ds in rows["decisions"]]
    rows["mask_action"] = [bool(m) for m in rows["masked_decisions"]]
    return Dataset.from_dict(rows)


def masked_decisions(train: Dataset) -> list[int]:
    """The global ids of the decisions whose action tokens get no loss (sorted ``list[int]``)."""
    return sorted({d for ds in train["masked_decisions"] for d in ds})


@dataclass
class ActionMaskingCollator(DataCollatorForLanguageModeling):
    """TRL's LM collator that drops the loss on action tokens of the examples marked ``mask_action``.

    Each example carries ``input_ids`` and ``labels`` (``list[int]``, ``-100`` = no loss), plus
    ``masked_tokens`` (``list[int]``, 1 on the action tokens of masked decisions; see
    :func:`tokenize_sft_dataset`); older rows may carry ``action_token_mask`` and ``mask_action``
    instead. Labels at masked tokens become ``-100``; the batch is then padded by
    ``DataCollatorForLanguageModeling`` (``labels`` padded with ``-100``).

    Returns (``torch_call``):
        ``{"input_ids": LongTensor (B, L), "attention_mask": LongTensor (B, L),
        "labels": LongTensor (B, L)}`` (padding-free layout when ``padding_free=True``).
    """

    def torch_call(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        batch = []
        for ex in examples:
            out = {"input_ids": ex["input_ids"], "labels": ex.get("labels", ex["input_ids"])}
            drop = ex.get("masked_tokens")
            if drop is None and ex.get("mask_action"):
                drop = ex["action_token_mask"]
            if drop is not None:
                out["labels"] = [IGNORE_INDEX if m else lab for lab, m in zip(out["labels"], drop, strict=True)]
            if "seq_lengths" in ex:
                out["seq_lengths"] = ex["seq_lengths"]
            batch.append(out)
        return super().torch_call(batch)


def train_sft(
    dataset: Dataset,
    model: str,
    config: ActionMaskSFTConfig,
    *,
    fmt: ResponseFormat = DEFAULT_FORMAT,
    callbacks: list[Any] | None = None,
    protocol: DecodingProtocol | None = None,
) -> dict[str, Any]:
    """Train ``model`` on an expert dataset with reduced action supervision.

    Args:
        dataset: the expert dataset (:func:`cotdiag.baselines.data.build_dataset`).
        model: a path or hub id of a causal LM, a named model (``smollm2-135m``, a shipped agent),
            a LoRA adapter folder (trained on with ``lora_r`` > 0, see
            :func:`~cotdiag.baselines.checkpoints.load_trainable`), or ``"tiny"`` (build the
            embedded default, see :func:`load_or_build_model`).
        config: training arguments; ``config.output_dir`` receives checkpoints
            (``checkpoint-STEP``), the final model and tokenizer, ``action_mask.json`` and
            ``train_log.json``.
        callbacks: extra ``transformers.TrainerCallback`` objects (progress bars).
        protocol: the decoding protocol of the data (written as ``cotdiag_protocol.json`` into the
            output folder and every checkpoint); ``None`` writes none.

    Returns:
        ``{"output_dir", "train_loss", "steps", "masked_examples", "examples", "decisions",
        "log_history"}``.
    """
    from transformers import AutoTokenizer
    from trl import SFTTrainer

    out = Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = load_or_build_model(model, dataset, out)
    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    dtype = weights_dtype(config.model_dtype, int(config.lora_r), bool(config.bf16))
    lm, base = load_trainable(path, model, dtype, config.lora_r, config.lora_alpha)
    train = tokenize_sft_dataset(dataset, tokenizer, config, fmt=fmt,
                                 show_admissible=bool(protocol is not None and protocol.show_admissible))
    masked = masked_decisions(train)
    n_dec = len({d for ds in train["decisions"] for d in ds})
    (out / "action_mask.json").write_text(json.dumps({
        "action_mask_ratio": config.action_mask_ratio, "response_format": config.response_format,
        "seed": config.seed if config.mask_seed is None else config.mask_seed,
        "unit": "decision", "decisions": n_dec, "examples": len(train), "masked_decisions": masked,
        "recovery_rate": config.recovery_rate, "recovery_turns": int(sum(train["recovery_turns"])),
    }, indent=2) + "\n")
    if protocol is not None:
        protocol.save(out)
    extra = [ProvenanceCallback(protocol, base, path, save_dtype_for(config))]
    collator = ActionMaskingCollator(pad_token_id=tokenizer.pad_token_id, padding_free=config.padding_free)
    optim = stochastic_rounding_optimizer(config) if config.bf16_stochastic_round else None
    trainer = SFTTrainer(model=lm, args=config, data_collator=collator, train_dataset=train, processing_class=tokenizer,
                         callbacks=[*(callbacks or []), *extra], optimizer_cls_and_kwargs=optim)
    result = trainer.train(resume_from_checkpoint=resume_checkpoint(config.resume_from_checkpoint, out))
    trainer.save_model(str(out))
    tokenizer.save_pretrained(str(out))
    write_provenance(out, protocol, base, path)
    cast_saved_weights(out, save_dtype_for(config))
    summary = {
        "output_dir": str(out), "train_loss": float(result.training_loss), "steps": int(result.global_step),
        "masked_examples": len(masked), "examples": len(train), "decisions": n_dec,
        "log_history": trainer.state.log_history,
    }
    (out / "train_log.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    return summary
