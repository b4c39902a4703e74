"""The policies config file of ``cotdiag leaderboard run --policies FILE``.

TOML (``tomllib``), JSON, or YAML (when PyYAML is installed)::

    [[policies]]
    name = "expert"            # leaderboard row name (unique)
    spec = "expert"            # a cotdiag.agents.registry.make_policy spec

    [[policies]]
    name = "qwen3-8b-sft"
    spec = "hf:/ckpt/qwen3-8b-sft"
    kwargs = { max_new_tokens = 256 }   # passed to make_policy

    [[policies]]
    name = "gpt-endpoint"
    spec = "openai:http://localhost:8000/v1#Qwen/Qwen3-8B"
    responds = "completion"

``responds`` says what the policy emits: ``"completion"`` (a raw model response, parsed by the
decoding wrapper; default for ``hf`` and ``openai`` specs) or ``"action"`` (a clean action such as
the expert's; the leaderboard formats it as a well-formed response for the decoding mode).
"""

from __future__ import annotations

import json

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cotdiag.error import InvalidConfigError

#: Policy kinds whose ``act`` returns a raw model completion by default.
COMPLETION_KINDS: tuple[str, ...] = ("hf", "openai", "vllm")
RESPONDS: tuple[str, ...] = ("action", "completion")


@dataclass(frozen=True)
class PolicyConfig:
    """One leaderboard policy.

    Attributes:
        name: row name (unique in the file; used in run directory names).
        spec: :func:`cotdiag.agents.registry.make_policy` spec.
        kwargs: extra keyword arguments of ``make_policy``.
        responds: ``"action"`` or ``"completion"`` (``None``: from the spec's kind).
    """

    name: str
    spec: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    responds: str | None = None

    def __post_init__(self) -> None:
        if not self.name or not self.spec:
            raise InvalidConfigError(f"expected non-empty name and spec, got {self.name!r} and {self.spec!r}")
        if self.responds is None:
            kind = self.spec.partition(":")[0]
            object.__setattr__(self, "responds", "completion" if kind in COMPLETION_KINDS else "action")
        if self.responds not in RESPONDS:
            raise InvalidConfigError(f"expected responds in {list(RESPONDS)}, got {self.responds!r}")


def load_policies(path: str | Path) -> list[PolicyConfig]:
    """Read the policies file (``.toml``, ``.json``, ``.yaml``/``.yml``).

    Raises:
        InvalidConfigError: unreadable file, unknown keys, duplicate names or no policy.
    """
    path = Path(path)
    try:
        text = path.read_text()
        if path.suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        elif path.suffix == ".json":
            data = json.loads(text)
        else:
            data = tomllib.loads(text)
    except (OSError, ValueError, ImportError) as e:
        raise InvalidConfigError(f"cannot read policies file {path}: {e}") from e
    rows = data.get("policies", []) if isinstance(data, dict) else data
    try:
        policies = [PolicyConfig(**row) for row in rows or []]
    except TypeError as e:
        raise InvalidConfigError(f"invalid policy in {path}: {e}") from e
    names = [p.name for p in policies]
    if not policies or len(set(names)) != len(names):
        raise InvalidConfigError(f"expected at least one policy with unique names in {path}, got {names}")
    return policies
