"""CoTDiag-BFCL-v0 on the data, API classes and checkers of the installed bfcl-eval package."""

from __future__ import annotations

import copy
import importlib.util
import time
import warnings
from pathlib import Path

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env

import cotdiag  # noqa: F401  (registers the envs)
from cotdiag.agents.expert import ExpertPolicy
from cotdiag.agents.random import RandomPolicy
from cotdiag.envs.bfcl import BFCLEnv, CallSyntaxError, parse_calls
from cotdiag.envs.bfcl.data import CATEGORIES, MULTI_TURN_CATEGORIES, SPLITS, list_task_ids
from cotdiag.error import InvalidConfigError
from cotdiag.rollout import evaluate
from cotdiag.testing import check_info, check_text_env

ENV_ID = "CoTDiag-BFCL-v0"

_PARITY = Path(__file__).resolve().parents[2] / "benchmarks" / "bfcl_parity.py"
_spec = importlib.util.spec_from_file_location("bfcl_parity", _PARITY)
parity = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(parity)

BAD_ACTIONS = [
    "",
    "   ",
    "x" * 100_000,
    "[" * 50_000 + "]" * 50_000,
    "\x00\xff\xfe binary \x01",
    b"\x89PNG\r\n".decode("latin-1"),
    "[cd(folder='document')",
    "cd(folder='document'))",
    '__import__("os").system("echo x")',
    "().__class__.__bases__",
    "[].__class__.__base__.__subclasses__()",
    "cd(folder=__import__('os').getcwd())",
    "cd(folder='a' + 'b')",
    "cd(folder=lambda: 1)",
    "[cd(folder=x) for x in ['a']]",
    "import os",
    "exec('1')",
    "cd('document')",
    "cd(*['document'])",
    "cd(**{'folder': 'document'})",
    "_load_scenario(scenario={})",
    "__init__()",
    "os.system(command='echo x')",
    "[mkdir(dir_name='new'), rm(file_name='final_report.pdf'), nope(a=1)]",
    "I would move the file now.",
]


@pytest.fixture(scope="module")
def env():
    e = gym.make(ENV_ID, split="multi_turn_base")
    yield e
    e.close()


def _state(env) -> dict:
    return {name: copy.deepcopy(vars(inst)) for name, inst in env.unwrapped.api_instances.items()}


# ----------------------------------------------------------------------------- parsing and safety
def test_parse_calls_accepts_literal_keyword_calls():
    calls = parse_calls("[cd(folder='doc'), ls(a=True), f(x=[1, -2.5, {'k': (None, 'v')}])]")
    assert [c.name for c in calls] == ["cd", "ls", "f"]
    assert calls[2].as_decoded() == {"f": {"x": [1, -2.5, {"k": (None, "v")}]}}
    assert parse_calls("  ls(a=True)  ")[0].to_string() == "ls(a=True)"
    assert parse_calls("[]") == []
    assert parse_calls("math.factorial(number=5)", allow_dotted=True)[0].name == "math.factorial"


#: Well-formed calls that the executor (not the parser) rejects: private or unknown functions.
PARSEABLE = {"_load_scenario(scenario={})", "[mkdir(dir_name='new'), rm(file_name='final_report.pdf'), nope(a=1)]"}


@pytest.mark.parametrize("bad", [b for b in BAD_ACTIONS if b not in PARSEABLE])
def test_parse_calls_rejects_without_evaluating(bad):
    with pytest.raises(CallSyntaxError):
        parse_calls(bad)


def test_library_never_names_eval_or_exec():
    root = Path(cotdiag.__file__).parent / "envs" / "bfcl"
    for path in root.rglob("*.py"):
        text = path.read_text()
        assert "eval(" not in text and "exec(" not in text, path


# -------------------------------------------------------------------------------- registration
def test_registration_and_splits():
    spec = gym.spec(ENV_ID)
    assert spec.entry_point == "cotdiag.envs.bfcl:BFCLEnv" and spec.max_episode_steps == 100
    ind, ood = set(list_task_ids("in_domain")), set(list_task_ids("ood_long_context"))
    assert ood and not ind & ood and all(t.startswith("multi_turn_long_context_") for t in ood)
    assert any(t.startswith("simple_python_") for t in ind) and any(t.startswith("multi_turn_miss_param_") for t in ind)
    assert len(list_task_ids("multi_turn_base")) == 200
    assert set(CATEGORIES) <= set(SPLITS)
    with pytest.raises(InvalidConfigError, match="expected split in"):
        BFCLEnv("simple_java")
    with pytest.raises(InvalidConfigError, match="max_steps_per_turn"):
        BFCLEnv("multi_turn_base", max_steps_per_turn=0)
    with pytest.raises(KeyError):
        BFCLEnv("multi_turn_base").reset(options={"task_id": "simple_python_0"})


# ------------------------------------------------------------------------------- env checkers
@pytest.mark.parametrize("split", ["multi_turn_base", "simple_python", "ood_long_context"])
def test_check_env_passes_without_warnings(split):
    e = gym.make(ENV_ID, split=split)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(e.unwrapped, skip_render_check=True)
    e.close()


@pytest.mark.parametrize(
    "split,seeds",
    # in_domain with seed 0 draws live_relevance_4-4-0, which has no expert by design (no ground truth):
    # the checker's expert replay then moves on to a task that has one (the defaults must pass).
    [("in_domain", (0, 1)), ("multi_turn_miss_func", (0, 1, 2)), ("ood_long_context", (0, 1, 2))],
)
def test_check_text_env(split, seeds):
    e = gym.make(ENV_ID, split=split)
    check_text_env(e, seeds=seeds)
    e.close()


def test_seeded_determinism_of_task_choice_and_rollout(env):
    a = parity.play_expert(env.unwrapped, env.reset(seed=7)[1]["task_id"])
    first = env.reset(seed=7)
    b = parity.play_expert(env.unwrapped, first[1]["task_id"])
    assert a == b and env.reset(seed=7)[0] == first[0]


# ---------------------------------------------------------------------------------- semantics
def test_multi_turn_observations_and_expert(env):
    obs, info = env.reset(options={"task_id": "multi_turn_base_0"})
    check_info(info)
    assert obs.startswith("Available functions (JSON schema):") and info["task"] in obs
    assert info["expert_action"] == "cd(folder='document')" and info["bfcl/n_turns"] == 4
    obs, r, term, trunc, info = env.step("cd(folder='document')")
    assert obs == 'cd(folder=\'document\') -> {"current_working_directory": "document"}'
    assert (r, term, info["invalid_action"]) == (0.0, False, False)
    obs, r, term, _, info = env.step("[mkdir(dir_name='temp'), mv(source='final_report.pdf', destination='temp')]")
    assert info["expert_action"] == "[]"
    obs, r, term, _, info = env.step("[]")
    assert r == pytest.approx(0.25) and info["bfcl/turn"] == 1 and "budget analysis" in obs


def test_info_names_the_current_request_and_functions(env):
    obs, info = env.reset(options={"task_id": "multi_turn_base_0"})
    assert info["bfcl/request"] == info["task"] and "cd" in info["bfcl/functions"]
    while info["bfcl/turn"] == 0:
        obs, *_, info = env.step(info["expert_action"])
    assert info["bfcl/request"] != info["task"] and info["bfcl/request"] in obs
    single = gym.make(ENV_ID, split="simple_python")
    _, info = single.reset(options={"task_id": "simple_python_0"})
    assert info["bfcl/request"] == info["task"] and info["bfcl/functions"] == ["calculate_triangle_area"]
    single.close()


def test_positional_ground_truth_is_replayed_in_keyword_form(env):
    env.reset(options={"task_id": "multi_turn_base_0"})
    for a in ["cd(folder='document')", "mkdir(dir_name='temp')", "mv(source='final_report.pdf', destination='temp')",
              "[]", "cd(folder='temp')", "grep(file_name='final_report.pdf', pattern='budget analysis')", "[]"]:
        info = env.step(a)[4]
    assert info["expert_action"] == "sort(file_name='final_report.pdf')"  # ground truth: sort('final_report.pdf')


def test_wrong_turn_fails_the_entry_with_partial_score(env):
    _, info = env.reset(options={"task_id": "multi_turn_base_0"})
    info = env.step("ls(a=True)")[4]
    _, r, term, _, info = env.step("[]")
    assert r == 0.0 and not term and info["bfcl/checker_error"].startswith("turn 0:")
    while True:
        _, r, term, _, info = env.step(info["expert_action"])
        if term:
            break
    assert not info["won"] and info["score"] < 1.0 and info["bfcl/turns_passed"] < 4


def test_empty_turn_fails(env):
    env.reset(options={"task_id": "multi_turn_base_0"})
    info = env.step("[]")[4]
    assert info["bfcl/checker_error"].startswith("turn 0: Model response list is empty")


@pytest.mark.parametrize("bad", BAD_ACTIONS)
def test_bad_actions_are_recorded_invalid_and_change_nothing(env, bad):
    env.reset(options={"task_id": "multi_turn_base_0"})
    env.step("cd(folder='document')")
    before = _state(env)
    t0 = time.perf_counter()
    obs, r, term, trunc, info = env.step(bad)
    assert time.perf_counter() - t0 < 2.0
    assert info["invalid_action"] and not term and r == 0.0 and obs.startswith("Invalid action")
    assert info["expert_action"] == "mkdir(dir_name='temp')"
    assert _state(env) == before
    check_info(info)


def test_excluded_function_is_rejected():
    task_id, entry = next(
        (t, e) for t in list_task_ids("multi_turn_base")
        for e in [parity.get_entry(t)[1]] if e.get("excluded_function") == ["rm"]
    )
    e = BFCLEnv("multi_turn_base")
    obs, _ = e.reset(options={"task_id": task_id})
    assert '"name": "rm"' not in obs
    obs, _, _, _, info = e.step("rm(file_name='anything.txt')")
    assert info["invalid_action"] and "not an available function" in obs


def test_miss_func_functions_shown_only_from_their_turn():
    e = BFCLEnv("multi_turn_miss_func")
    obs, info = e.reset(options={"task_id": "multi_turn_miss_func_0"})
    assert '"name": "sort"' not in obs
    while info["bfcl/turn"] < 3:
        obs, _, _, _, info = e.step(info["expert_action"])
    assert '"name": "sort"' in obs and "I have updated some more functions" in obs


def test_single_turn_answers():
    e = BFCLEnv("simple_python")
    obs, info = e.reset(options={"task_id": "simple_python_0"})
    assert "calculate_triangle_area" in obs and info["expert_action"].startswith("[calculate_triangle_area(")
    _, r, term, _, info = e.step("calculate_triangle_area(base=10, height=5)")
    assert (r, term, info["won"], info["invalid_action"]) == (1.0, True, True, False)
    e.reset(options={"task_id": "simple_python_0"})
    _, r, term, _, info = e.step("calculate_triangle_area(base=11, height=5)")
    assert (r, term, info["won"]) == (0.0, True, False)
    irr = BFCLEnv("irrelevance")
    _, info = irr.reset(options={"task_id": "irrelevance_0"})
    assert info["expert_action"] == "[]"
    assert irr.step("I cannot answer this with the given functions.")[4]["won"]
    irr.reset(options={"task_id": "irrelevance_0"})
    assert not irr.step('__import__("os").system("echo x")')[4]["won"]
    rel = BFCLEnv("live_relevance")
    _, info = rel.reset(seed=0)
    assert info["expert_action"] is None


@pytest.mark.parametrize("bad", BAD_ACTIONS)
def test_single_turn_bad_actions_end_the_episode_without_error(bad):
    e = BFCLEnv("parallel")
    e.reset(seed=0)
    obs, r, term, trunc, info = e.step(bad)
    assert term and not info["won"] and r == 0.0
    check_info(info)


def test_step_limit_per_turn_force_terminates():
    e = BFCLEnv("multi_turn_base", max_steps_per_turn=3)
    e.reset(options={"task_id": "multi_turn_base_0"})
    for _ in range(3):
        assert not e.step("pwd()")[2]
    _, _, term, _, info = e.step("pwd()")
    assert term and not info["won"] and "force-terminated" in info["bfcl/checker_error"]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("call", [
    "power(base=99999, exponent=999999999)", "square_root(number=2.0, precision=1000000)",
    "logarithm(value=2.0, base=3.0, precision=1000000)", "round_number(number=5, decimal_places=-100000000)",
])
def test_pathological_math_is_refused(call):
    e = BFCLEnv("multi_turn_base")
    task_id = next(t for t in list_task_ids("multi_turn_base") if "MathAPI" in parity.get_entry(t)[1]["involved_classes"])
    e.reset(options={"task_id": task_id})
    obs = e.step(call)[0]
    assert "refused" in obs
    obs = e.step(call.replace("1000000", "10").replace("-100000000", "2").replace("999999999", "2"))[0]
    assert "refused" not in obs


# ---------------------------------------------------------------------------------------- runner
@pytest.mark.parametrize("policy,min_success", [(ExpertPolicy(), 1.0), (RandomPolicy(seed=0), 0.0)])
def test_evaluate_runs(tmp_path, policy, min_success):
    summary = evaluate(ENV_ID, policy, tmp_path, split="multi_turn_miss_param", episodes=3, seed=0)
    assert summary["episodes"] == 3 and summary["errors"] == 0 and summary["success_rate"] >= min_success
    summary = evaluate(ENV_ID, policy, tmp_path / "st", split="live_multiple", episodes=3, seed=0)
    assert summary["episodes"] == 3 and summary["errors"] == 0 and summary["success_rate"] >= min_success


# ---------------------------------------------------------------------------------------- parity
def test_ground_truth_wins_a_seeded_sample_of_every_category():
    result = parity.ground_truth_sweep(CATEGORIES, sample=6, seed=1)
    assert result["failures"] == []
    for category, r in result["by_category"].items():
        if category != "live_relevance":
            assert r["wins"] == r["entries"] > 0, category


def test_perturbed_verdicts_equal_official_verdicts():
    result = parity.perturbation_agreement(CATEGORIES, per_category=3, seed=2)
    assert result["mismatches"] == []
    by = result["by_category"]
    assert sum(r["cases"] for r in by.values()) >= 60
    for category in MULTI_TURN_CATEGORIES:
        assert by[category]["cases"] > 0


def test_string_arguments_keep_their_whitespace_through_the_decoding_wrapper():
    from cotdiag.wrappers.decoding import DecodingModeWrapper

    env = DecodingModeWrapper(gym.make(ENV_ID, split="multi_turn_base"), "prompt")
    env.reset(options={"task_id": "multi_turn_base_0"})
    env.step("touch(file_name='notes.txt')</action>")
    call = "echo(content='a  b\\n\\t c', file_name='notes.txt')"
    _, _, _, _, info = env.step(f"  {call}\n</action>")
    assert info["parse_status"] == "ok" and info["action"] == call  # stripped, not collapsed
    obs, *_ = env.step("cat(file_name='notes.txt')</action>")
    assert "a  b\\n\\t c" in obs
    env.close()


def test_making_a_single_turn_env_imports_the_ast_checker_off_the_step_path():
    import sys

    from cotdiag.envs.bfcl import scoring

    env = gym.make(ENV_ID, split="simple_python")
    thread = scoring._warm_thread
    assert thread is not None and thread.name == "bfcl-checker-import"
    thread.join(timeout=120)
    assert scoring.AST_CHECKER_MODULE in sys.modules
    obs, info = env.reset(seed=0)
    assert env.step(info["expert_action"])[4]["won"]
    env.close()
