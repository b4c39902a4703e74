"""Suites and the policies file."""

from __future__ import annotations

import json

import pytest

from cotdiag.error import InvalidConfigError
from cotdiag.leaderboard import SUITES, SuiteEntry, get_suite, load_policies
from cotdiag.leaderboard.suite import load_suite_file


def test_default_suite_covers_three_envs_id_and_ood():
    suite = get_suite("default")
    pairs = {(e.env_id, e.domain) for e in suite.entries}
    for env in ("CoTDiag-ALFWorld-v0", "CoTDiag-ScienceWorld-v0", "CoTDiag-BFCL-v0"):
        assert {(env, "id"), (env, "ood")} <= pairs
    assert all(e.modes == ("prompt", "cot") for e in suite.entries)


def test_smoke_suite_is_alfworld_only_and_tiny():
    suite = SUITES["smoke"]
    assert {e.env_id for e in suite.entries} == {"CoTDiag-ALFWorld-v0"}
    assert sum(e.episodes for e in suite.entries) <= 2


def test_config_hash_changes_with_version_and_entry():
    a = get_suite("smoke")
    b = type(a)(a.name, a.version + 1, a.entries)
    e = a.entries[0]
    assert a.config_hash(e) != b.config_hash(e)
    assert a.config_hash(e) != a.config_hash(a.entries[1])
    assert e.seeds == [4]


@pytest.mark.parametrize("kwargs, match", [
    ({"domain": "both"}, "domain"), ({"modes": ("fast",)}, "modes"), ({"episodes": 0}, "episodes"),
])
def test_entry_validation(kwargs, match):
    base = dict(env_id="X-v0", split="s", domain="id")
    with pytest.raises(InvalidConfigError, match=match):
        SuiteEntry(**{**base, **kwargs})


def test_unknown_suite_lists_builtins():
    with pytest.raises(InvalidConfigError, match="default"):
        get_suite("nope")


def test_suite_file(tmp_path):
    p = tmp_path / "s.toml"
    p.write_text('name = "mine"\nversion = 3\n[[entries]]\nenv_id = "A-v0"\nsplit = "t"\ndomain = "ood"\n'
                 'episodes = 2\nmodes = ["cot"]\n')
    suite = get_suite(str(p))
    assert (suite.name, suite.version, suite.entries[0].modes) == ("mine", 3, ("cot",))
    p.write_text('[[entries]]\nenv_id = "A-v0"\nsplit = "t"\ndomain = "id"\nbogus = 1\n')
    with pytest.raises(InvalidConfigError, match="bogus"):
        load_suite_file(p)


def test_policies_toml_and_json(tmp_path):
    p = tmp_path / "p.toml"
    p.write_text('[[policies]]\nname = "e"\nspec = "expert"\n[[policies]]\nname = "q"\nspec = "hf:x/y"\n'
                 'kwargs = { max_new_tokens = 8 }\n')
    e, q = load_policies(p)
    assert (e.responds, q.responds, q.kwargs) == ("action", "completion", {"max_new_tokens": 8})
    j = tmp_path / "p.json"
    j.write_text(json.dumps({"policies": [{"name": "r", "spec": "random", "responds": "action"}]}))
    assert load_policies(j)[0].spec == "random"


def test_policies_duplicate_names(tmp_path):
    p = tmp_path / "p.toml"
    p.write_text('[[policies]]\nname = "e"\nspec = "expert"\n[[policies]]\nname = "e"\nspec = "random"\n')
    with pytest.raises(InvalidConfigError, match="unique"):
        load_policies(p)
