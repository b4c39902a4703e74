"""The embedded default model: a BPE tokenizer and a few-million-parameter Qwen2 model.

No weights can be downloaded in many research sandboxes, and users without a GPU still need a model
that runs end to end. :func:`make_tiny_default` trains a byte-level BPE tokenizer with
``tokenizers`` on the dataset's text (the four response tags are special tokens, so they are single
tokens and never merge with their neighbours), builds a randomly initialised Qwen2-architecture
causal LM from :class:`TinyModelConfig`, and saves both in Hugging Face format; every other part of
CoTDiag then loads it by path exactly like a real model (``hf:PATH``).

Example:
    >>> from cotdiag.baselines.tiny import TinyModelConfig, make_tiny_default
    >>> path = make_tiny_default(["go to desk 1", "take mug 1 from desk 1"], "/tmp/tiny",
    ...                          TinyModelConfig(hidden_size=32, num_hidden_layers=1))  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cotdiag.error import InvalidConfigError
from cotdiag.response.format import DEFAULT_FORMAT, ResponseFormat

if TYPE_CHECKING:
    from datasets import Dataset
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

logger = logging.getLogger(__name__)

#: End-of-text token of the tiny tokenizer (also its padding token).
EOS_TOKEN = "<|endoftext|>"


@dataclass
class TinyModelConfig:
    """Size of the embedded default model (Qwen2 architecture).

    The defaults give about 2.6M parameters with a 4,096-token vocabulary.
    """

    vocab_size: int = field(default=4096, metadata={"help": "BPE vocabulary size, special tokens included."})
    hidden_size: int = field(default=192, metadata={"help": "Width of the residual stream."})
    intermediate_size: int = field(default=576, metadata={"help": "Width of the SwiGLU MLP."})
    num_hidden_layers: int = field(default=4, metadata={"help": "Number of transformer blocks."})
    num_attention_heads: int = field(default=4, metadata={"help": "Query heads per block."})
    num_key_value_heads: int = field(default=2, metadata={"help": "Key/value heads per block (GQA)."})
    max_position_embeddings: int = field(default=4096, metadata={"help": "Longest sequence in tokens."})
    seed: int = field(default=0, metadata={"help": "Seed of the random initialisation."})

    def __post_init__(self) -> None:
        for name in ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
                     "num_attention_heads", "num_key_value_heads", "max_position_embeddings"):
            if int(getattr(self, name)) <= 0:
                raise InvalidConfigError(f"expected {name} > 0, got {getattr(self, name)!r}")
        if self.hidden_size % self.num_attention_heads:
            raise InvalidConfigError(
                f"expected hidden_size divisible by num_attention_heads, got {self.hidden_size} and "
                f"{self.num_attention_heads}"
            )
        if self.num_attention_heads % self.num_key_value_heads:
            raise InvalidConfigError(
                f"expected num_attention_heads divisible by num_key_value_heads, got "
                f"{self.num_attention_heads} and {self.num_key_value_heads}"
            )


#: A much smaller model for unit tests and benchmarks (about 0.1M parameters plus embeddings).
MICRO_CONFIG = TinyModelConfig(vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                               num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048)


def train_tokenizer(
    texts: Iterable[str], vocab_size: int = 4096, response_format: ResponseFormat = DEFAULT_FORMAT
) -> PreTrainedTokenizerBase:
    """Train a byte-level BPE tokenizer on ``texts``.

    Byte-level pre-tokenization means every string is encodable (no unknown token). The special
    tokens are ``<|endoftext|>`` (EOS and padding) and the four response tags of
    ``response_format``; the tokenizer has no chat template, so policies feed it plain text.

    Args:
        texts: training corpus (prompts, traces, actions).
        vocab_size: target vocabulary size (special tokens included); the result may be smaller on a
            small corpus.
        response_format: the tags to add as special tokens.

    Returns:
        A ``transformers`` fast tokenizer with ``eos_token == pad_token == "<|endoftext|>"`` and
        ``padding_side == "left"`` (generation-ready).
    """
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

    specials = [EOS_TOKEN, *response_format.special_tokens]
    tok = Tokenizer(models.BPE())
    # Qwen2's own normalizer and pre-tokenizer: AutoTokenizer loads the saved files as a
    # Qwen2Tokenizer (the model type), which rebuilds exactly this pipeline around our merges.
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    hf = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token=EOS_TOKEN,
        pad_token=EOS_TOKEN,
        additional_special_tokens=response_format.special_tokens,
        padding_side="left",
        model_max_length=TinyModelConfig.max_position_embeddings,
    )
    return hf


def build_tiny_model(tokenizer: PreTrainedTokenizerBase, config: TinyModelConfig | None = None) -> PreTrainedModel:
    """A randomly initialised ``Qwen2ForCausalLM`` sized by ``config`` for ``tokenizer``.

    The vocabulary size is ``len(tokenizer)``; input and output embeddings are tied.

    Returns:
        The model in ``float32`` on CPU.
    """
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    config = config or TinyModelConfig()
    torch.manual_seed(config.seed)
    cfg = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=config.hidden_size,
        intermediate_size=config.intermediate_size,
        num_hidden_layers=config.num_hidden_layers,
        num_attention_heads=config.num_attention_heads,
        num_key_value_heads=config.num_key_value_heads,
        max_position_embeddings=config.max_position_embeddings,
        tie_word_embeddings=True,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.eos_token_id,
    )
    model = Qwen2ForCausalLM(cfg)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model


def make_tiny_default(
    texts: Iterable[str],
    out_dir: str | Path,
    config: TinyModelConfig | None = None,
    response_format: ResponseFormat = DEFAULT_FORMAT,
) -> Path:
    """Train the tokenizer on ``texts``, build the tiny model, save both to ``out_dir``.

    Writes the usual Hugging Face files (``config.json``, ``model.safetensors``,
    ``tokenizer.json``, ``tokenizer_config.json``, ...) plus ``cotdiag_tiny.json`` (the
    :class:`TinyModelConfig` used), so ``AutoModelForCausalLM.from_pretrained(out_dir)`` and
    ``AutoTokenizer.from_pretrained(out_dir)`` load it.

    Returns:
        ``Path(out_dir)``.
    """
    config = config or TinyModelConfig()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = train_tokenizer(texts, config.vocab_size, response_format)
    model = build_tiny_model(tokenizer, config)
    n_params = sum(p.numel() for p in model.parameters())
    logger.info("tiny model: %d parameters, vocabulary %d", n_params, len(tokenizer))
    tokenizer.save_pretrained(out)
    model.save_pretrained(out)
    (out / "cotdiag_tiny.json").write_text(json.dumps({**asdict(config), "parameters": n_params}, indent=2) + "\n")
    return out


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
    def texts():
        for ex in dataset:
            if "messages" in ex:
                for m in ex["messages"] + ex["messages_prompt_mode"]:
                    yield m["content"]
                continue
            yield ex["prompt"]
            yield ex.get("prompt_for_prompt_mode", "")
            yield DEFAULT_FORMAT.cot_response(ex["trace"], ex["action"])

    return str(make_tiny_default(texts(), out_dir / "init", tiny_config))
