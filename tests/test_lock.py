"""``requirements.lock`` (what ``make venv`` installs) pins everything ``pyproject.toml`` asks for,
and only the CPU build of torch: no CUDA wheels (``make lock`` once resolved the plain
``torch==2.13.0`` pin to the CUDA build and added its nvidia-* packages)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from packaging.requirements import Requirement

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


def _pins() -> dict[str, str]:
    lines = (ROOT / "requirements.lock").read_text().splitlines()
    pins = [re.match(r"^([A-Za-z0-9_.\-\[\]]+)==(\S+)", line) for line in lines]
    return {_norm(m[1].split("[")[0]): m[2] for m in pins if m}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_lock_pins_every_requirement_of_the_installed_extras():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = project["dependencies"] + project["optional-dependencies"]["dev"] + \
        project["optional-dependencies"]["smollm2"]
    pins = _pins()
    env = {"python_version": "3.11", "python_full_version": "3.11.7", "sys_platform": "linux"}
    missing = []
    for spec in wanted:
        req = Requirement(spec)
        if req.marker is not None and not req.marker.evaluate(env):
            continue
        version = pins.get(_norm(req.name))
        if version is None or not req.specifier.contains(version.removesuffix("+cpu"), prereleases=True):
            missing.append(f"{spec} (locked: {version})")
    assert not missing, f"requirements.lock does not satisfy: {missing}; run `make lock`"


def test_lock_installs_the_cpu_torch_without_cuda_packages():
    pins = _pins()
    assert pins["torch"] == "2.13.0"  # the Makefile installs the local CPU wheel first
    cuda = sorted(n for n in pins if n.startswith(("nvidia-", "cuda-")) or n == "triton")
    assert not cuda, f"requirements.lock pulls CUDA packages: {cuda}"
