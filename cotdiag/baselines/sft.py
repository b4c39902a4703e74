"""SFT with reduced action supervision (the study's intervention), on TRL's ``SFTTrainer``.

Design (TRL's documented hooks only, no forked trainer):

1. :func:`tokenize_sft_dataset` turns the expert dataset (:mod:`cotdiag.baselines.data`) into
   already-tokenized rows (``input_ids``, ``labels``, ``action_token_mask``, ``mask_action``).
   ``SFTTrainer`` uses a dataset with ``input_ids`` and ``labels`` as is. The model input is
   :func:`cotdiag.response.build_model_text` of the prompt (what :class:`~cotdiag.agents.HFPolicy`
   feeds at inference) followed by the response and EOS; ``labels`` are ``-100`` on the prompt
   (loss only on the response).
2. A seeded random set of ``round(k * n)`` examples gets ``mask_action=True`` (``k`` =
   :attr:`ActionMaskSFTConfig.action_mask_ratio`); the indices are written to
   ``output_dir/action_mask.json``.
3. :class:`ActionMaskingCollator` (a subclass of TRL's ``DataCollatorForLanguageModeling``) sets
   the labels of the *action tokens* of those examples to ``-100``. The action tags and the
   reasoning stay supervised, so masked examples train only the CoT span and the switch to acting
   (docs/concepts.md (arXiv 2606.26935), "The intervention").

Response formats (:attr:`ActionMaskSFTConfig.response_format`):

* ``cot``: prompt = CoT-mode prompt, response = ``<think>TRACE</think><action>ACTION</action>``;
* ``prompt``: prompt = prompt-mode prompt, response = ``<action>ACTION</action>`` (at inference
  ``<action>`` is prefilled; in training it is supervised like any action tag);
* ``mixed``: each example is ``cot`` or ``prompt`` with probability 1/2 (seeded).
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

from cotdiag.error import InvalidConfigError
from cotdiag.response.format import DEFAULT_FORMAT, ResponseFormat
from cotdiag.response.prompt import build_model_text

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
    field as an option): ``bf16`` only on GPUs that support it, ``remove_unused_columns=False`` (the
    collator needs the mask columns), ``save_strategy="steps"`` with ``save_steps=50`` (the
    diagnostics sweep checkpoints), ``save_only_model=True``, ``report_to="none"``,
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
    mask_seed: int | None = field(
        default=None, metadata={"help": "Seed choosing the masked examples and mixed formats (None: seed)."}
    )
    remove_unused_columns: bool = field(
        default=False, metadata={"help": "Keep the mask columns for the collator (must stay False)."}
    )
    save_strategy: str = field(default="steps", metadata={"help": "Checkpoint strategy ('steps', 'epoch', 'no')."})
    save_steps: float = field(default=50, metadata={"help": "Checkpoint interval in optimizer steps."})
    report_to: str | list[str] = field(default="none", metadata={"help": "Experiment trackers ('none')."})
    max_length: int | None = field(default=2048, metadata={"help": "Longest training sequence in tokens."})
    bf16: bool | None = field(default=None, metadata={"help": "bfloat16 mixed precision (None: on GPUs that support it)."})
    logging_steps: float = field(default=5, metadata={"help": "Log the loss every this many optimizer steps."})
    lr_scheduler_type: SchedulerType | str = field(default="cosine", metadata={"help": "Learning-rate schedule (the study's: cosine)."})
    warmup_steps: float = field(default=10, metadata={"help": "Linear warm-up steps."})
    save_only_model: bool = field(default=True, metadata={"help": "Checkpoints hold the model only (no optimizer state)."})

    def __post_init__(self) -> None:
        if self.bf16 is None:
            self.bf16 = auto_bf16()
        if not 0.0 <= float(self.action_mask_ratio) <= 1.0:
            raise InvalidConfigError(f"expected action_mask_ratio in [0, 1], got {self.action_mask_ratio!r}")
        if self.response_format not in RESPONSE_FORMATS:
            raise InvalidConfigError(f"expected response_format in {list(RESPONSE_FORMATS)}, got {self.response_format!r}")
        super().__post_init__()


def auto_bf16() -> bool:
    """``True`` when a CUDA GPU with bfloat16 support is present (CPU training runs in float32)."""
    import torch

    return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())


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
    labels, amask = [], []
    for tid, (s, e) in zip(ids, enc["offset_mapping"], strict=True):
        in_resp = s >= resp_start
        labels.append(tid if in_resp else IGNORE_INDEX)
        amask.append(int(in_resp and s < act_end and e > act_start))
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
) -> Dataset:
    """Tokenize an expert dataset for :func:`train_sft`.

    Args:
        dataset: rows with ``prompt``, ``trace``, ``action`` and (for the prompt format)
            ``prompt_for_prompt_mode`` (falls back to ``prompt``).
        tokenizer: the model's tokenizer.
        config: reads ``response_format``, ``action_mask_ratio``, ``mask_seed``/``seed``, ``max_length``.

    Returns:
        A ``Dataset`` with ``input_ids``, ``labels``, ``action_token_mask`` (``list[int]``),
        ``mask_action`` (``bool``), ``format`` (``"cot"``/``"prompt"``) and ``example_index`` (``int``).
    """
    from datasets import Dataset

    n = len(dataset)
    seed = config.seed if config.mask_seed is None else config.mask_seed
    masked = choose_masked(n, float(config.action_mask_ratio), seed)
    if config.response_format == "mixed":
        formats = np.where(np.random.default_rng(seed + 1).random(n) < 0.5, "cot", "prompt")
    else:
        formats = np.array([config.response_format] * n)
    rows: dict[str, list[Any]] = {k: [] for k in ("input_ids", "labels", "action_token_mask", "mask_action",
                                                   "format", "example_index")}
    cols = set(dataset.column_names)
    for i, ex in enumerate(dataset):
        f = str(formats[i])
        if f == "cot":
            prompt, trace = ex["prompt"], ex["trace"]
        else:
            prompt = ex["prompt_for_prompt_mode"] if "prompt_for_prompt_mode" in cols else ex["prompt"]
            trace = None
        t = tokenize_example(tokenizer, prompt, ex["action"], trace, fmt=fmt, max_length=config.max_length)
        for k, v in t.items():
            rows[k].append(v)
        rows["mask_action"].append(bool(masked[i]))
        rows["format"].append(f)
        rows["example_index"].append(i)
    return Dataset.from_dict(rows)


@dataclass
class ActionMaskingCollator(DataCollatorForLanguageModeling):
    """TRL's LM collator that drops the loss on action tokens of the examples marked ``mask_action``.

    Each example carries ``input_ids`` and ``labels`` (``list[int]``, ``-100`` = no loss), plus
    ``action_token_mask`` (``list[int]``, 1 on action tokens) and ``mask_action`` (``bool``). For
    examples with ``mask_action`` the labels at ``action_token_mask == 1`` become ``-100``; the
    batch is then padded by ``DataCollatorForLanguageModeling`` (``labels`` padded with ``-100``).

    Returns (``torch_call``):
        ``{"input_ids": LongTensor (B, L), "attention_mask": LongTensor (B, L),
        "labels": LongTensor (B, L)}`` (padding-free layout when ``padding_free=True``).
    """

    def torch_call(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        batch = []
        for ex in examples:
            out = {"input_ids": ex["input_ids"], "labels": ex.get("labels", ex["input_ids"])}
            if ex.get("mask_action"):
                out["labels"] = [IGNORE_INDEX if m else lab
                                 for lab, m in zip(out["labels"], ex["action_token_mask"], strict=True)]
            if "seq_lengths" in ex:
                out["seq_lengths"] = ex["seq_lengths"]
            batch.append(out)
        return super().torch_call(batch)


def load_or_build_model(model: str, dataset: Dataset | None, out_dir: Path, *, tiny_config: Any = None) -> str:
    """Resolve ``model``: ``"tiny"`` builds the embedded default; a named pretrained model
    (``"smollm2-135m"``) resolves to its cached checkpoint (:func:`cotdiag.agents.pretrained.resolve_model`);
    a path or hub id is returned as is.

    The tiny tokenizer is trained on the dataset's prompts, traces and actions; the model and the
    tokenizer are written to ``out_dir/init``.

    Raises:
        InvalidConfigError: ``"tiny"`` without a dataset.
    """
    if model != "tiny":
        from cotdiag.agents.pretrained import resolve_model

        return resolve_model(model)
    if dataset is None:
        raise InvalidConfigError("expected a dataset to train the tiny tokenizer on, got None")
    from cotdiag.baselines.tiny import make_tiny_default

    def texts():
        for ex in dataset:
            yield ex["prompt"]
            yield ex.get("prompt_for_prompt_mode", "")
            yield DEFAULT_FORMAT.cot_response(ex["trace"], ex["action"])

    return str(make_tiny_default(texts(), out_dir / "init", tiny_config))


def train_sft(
    dataset: Dataset,
    model: str,
    config: ActionMaskSFTConfig,
    *,
    fmt: ResponseFormat = DEFAULT_FORMAT,
    callbacks: list[Any] | None = None,
) -> dict[str, Any]:
    """Train ``model`` on an expert dataset with reduced action supervision.

    Args:
        dataset: the expert dataset (:func:`cotdiag.baselines.data.build_dataset`).
        model: a path or hub id of a causal LM, or ``"tiny"`` (build the embedded default, see
            :func:`load_or_build_model`).
        config: training arguments; ``config.output_dir`` receives checkpoints
            (``checkpoint-STEP``), the final model and tokenizer, ``action_mask.json`` and
            ``train_log.json``.
        callbacks: extra ``transformers.TrainerCallback`` objects (progress bars).

    Returns:
        ``{"output_dir", "train_loss", "steps", "masked_examples", "examples", "log_history"}``.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTTrainer

    out = Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = load_or_build_model(model, dataset, out)
    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    lm = AutoModelForCausalLM.from_pretrained(path)
    train = tokenize_sft_dataset(dataset, tokenizer, config, fmt=fmt)
    masked_idx = [int(i) for i, m in zip(train["example_index"], train["mask_action"], strict=True) if m]
    (out / "action_mask.json").write_text(json.dumps({
        "action_mask_ratio": config.action_mask_ratio, "response_format": config.response_format,
        "seed": config.seed if config.mask_seed is None else config.mask_seed,
        "examples": len(train), "masked_indices": masked_idx,
    }, indent=2) + "\n")
    collator = ActionMaskingCollator(pad_token_id=tokenizer.pad_token_id, padding_free=config.padding_free)
    trainer = SFTTrainer(model=lm, args=config, data_collator=collator, train_dataset=train,
                         processing_class=tokenizer, callbacks=callbacks)
    result = trainer.train()
    trainer.save_model(str(out))
    tokenizer.save_pretrained(str(out))
    summary = {
        "output_dir": str(out), "train_loss": float(result.training_loss), "steps": int(result.global_step),
        "masked_examples": len(masked_idx), "examples": len(train), "log_history": trainer.state.log_history,
    }
    (out / "train_log.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    return summary
