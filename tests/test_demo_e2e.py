"""``cotdiag demo`` (``make demo``'s job) runs end to end, as the README shows it, at tiny size.

Nothing is mocked: a subprocess runs the command on real ALFWorld games (the train subset for the
data, valid_seen and valid_unseen for evaluation) with every stage: expert data, the tiny model,
SFT with k = 0 and k = 0.3, evaluation in both modes next to the random policy. Sized down (2
training episodes, 1 evaluation episode of 2 steps per cell); `make demo` runs the defaults.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

COTDIAG = str(Path(sys.executable).with_name("cotdiag"))


def test_demo_runs_every_stage_and_resumes(tmp_path):
    cmd = [COTDIAG, "demo", "--out", str(tmp_path / "demo"), "--train-episodes", "2", "--eval-episodes", "1",
           "--eval-max-steps", "2", "--epochs", "1", "--num-envs", "1"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((tmp_path / "demo" / "demo_summary.json").read_text())
    cells = {(r["policy"], r["mode"]) for r in summary["results"]}
    assert cells == {("random", "-"), ("SFT k=0", "prompt"), ("SFT k=0", "cot"), ("SFT k=0.3", "prompt"),
                     ("SFT k=0.3", "cot")}
    assert all(r[split]["episodes"] == 1 for r in summary["results"] for split in ("valid_seen", "valid_unseen"))
    assert set(summary["cot_advantage"]) == {"SFT k=0", "SFT k=0.3"}
    out = proc.stdout
    assert "CoTDiag demo: tiny Qwen2 on ALFWorld" in out and "CoT advantage (online success, cot - prompt) for k=0.3" in out
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=900)  # every stage resumes
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"reusing {tmp_path / 'demo' / 'data'}" in again.stdout and f"reusing {tmp_path / 'demo' / 'sft_k0.3'}" in again.stdout
