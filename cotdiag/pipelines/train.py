"""SFT on a saved dataset, with progress (``cotdiag train sft``, the demo, the study)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cotdiag.pipelines.ui import LogUI, PipelineUI


def progress_callback(update: Any, description: str) -> Any:
    """A ``transformers.TrainerCallback`` that reports steps (and the last loss) through ``update``."""
    from transformers import TrainerCallback

    class _Progress(TrainerCallback):
        loss: float | None = None

        def on_step_end(self, args, state, control, **kw):  # noqa: ANN001 (transformers' signature)
            label = description if self.loss is None else f"{description} loss {self.loss:.3f}"
            update(state.global_step, total=state.max_steps, description=label)

        def on_log(self, args, state, control, logs=None, **kw):  # noqa: ANN001
            if logs and "loss" in logs:
                self.loss = float(logs["loss"])

    return _Progress()


def run_sft(data: str | Path, model: str, config: Any, description: str = "SFT", ui: PipelineUI | None = None) -> dict:
    """Train SFT on the dataset folder ``data`` (from ``build-data``) with its decoding protocol.

    Args:
        data: dataset directory from ``build-data``.
        model: model path, hub id, ``"smollm2-135m"`` or ``"tiny"``.
        config: a :class:`cotdiag.baselines.sft.ActionMaskSFTConfig` (``output_dir`` is where it writes).
        description: the progress label.
        ui: where progress and the closing line go (default: logging).

    Returns:
        :func:`cotdiag.baselines.sft.train_sft`'s summary.
    """
    from datasets import load_from_disk

    from cotdiag.baselines.sft import train_sft
    from cotdiag.response.protocol import load_protocol

    ui = ui or LogUI()
    with ui.progress(description, None) as update:
        res = train_sft(load_from_disk(str(data)), model, config, callbacks=[progress_callback(update, description)],
                        protocol=load_protocol(data))
    ui.say(f"{description}: {res['steps']} steps, mean loss {res['train_loss']:.3f}, "
           f"{res['masked_examples']}/{res['examples']} examples action-masked -> {config.output_dir}")
    return res
