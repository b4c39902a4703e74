"""A script that never closes its ScienceWorld env exits in seconds and leaves no JVM.

Each case runs a real script in a fresh interpreter with a time limit; the JVM's pid is printed
by the script and must be gone afterwards. Before the fix the first case hung at interpreter
shutdown (``Popen.wait`` on a lock held by py4j's frozen daemon thread).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

START = """
import gymnasium as gym, cotdiag
env = gym.make("CoTDiag-ScienceWorld-v0")
obs, info = env.reset(seed=0)
print("PID", env.unwrapped._jvm.pid, flush=True)
"""

CASES = {
    "no_close": START + "env.step(info['expert_action'])\n",
    "exception": START + "env.step(info['expert_action'])\nraise RuntimeError('user bug')\n",
    "mid_step": START + textwrap.dedent("""
        import threading, time
        def loop():
            while True:
                env.step(info['expert_action'] or 'look around')
        threading.Thread(target=loop, daemon=True).start()
        time.sleep(0.5)  # the main thread ends while the other is stepping
        """),
}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie no longer runs
        return f.read().split()[2] != "Z"


@pytest.mark.parametrize("case", sorted(CASES))
def test_script_exits_without_close(case):
    proc = subprocess.run([sys.executable, "-c", CASES[case]], capture_output=True, text=True, timeout=90)
    pids = [int(line.split()[1]) for line in proc.stdout.splitlines() if line.startswith("PID")]
    assert pids, proc.stderr[-2000:]
    assert proc.returncode == (1 if case == "exception" else 0), proc.stderr[-2000:]
    assert "ignored shutdown" not in proc.stderr
    assert not _alive(pids[0])
