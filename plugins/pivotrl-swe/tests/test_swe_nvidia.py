"""NVIDIA's swe_pivot semantics: the recorded rollouts and NVIDIA's own unit-test cases."""

from __future__ import annotations

import json

import pytest
from pivotrl_swe.nvidia import (
    PivotConfig,
    argument_similarity,
    command_paths,
    diff_size_penalty,
    score_calls,
    target_match,
    tool_category,
)
from pivotrl_swe.rescore import rescore_rollout

from pivotrl_core import Candidate, Message, ToolCall, get_registry


def test_recorded_rollouts_rescore_to_nvidia_rewards(swe_pivot_dir):
    rows = [json.loads(line) for line in (swe_pivot_dir / "example_rollouts.jsonl").open()]
    tasks = {t["uuid"]: t for t in map(json.loads, (swe_pivot_dir / "example.jsonl").open())}
    assert len(rows) == 5
    for row in rows:
        score = rescore_rollout(row, task=tasks[row["uuid"]])
        assert score.reward == row["reward"]
        assert score.failure_reason == row["failure_reason"]
        assert score.tool_name_match == row["tool_name_match"]
        assert score.similarity_score == row["similarity_score"]


def test_rollout_with_a_function_call_is_scored_against_the_expected_action(swe_pivot_dir):
    row = json.loads((swe_pivot_dir / "example_rollouts.jsonl").open().readline())  # example_5: pytest run
    expected = next(json.loads(r) for r in (swe_pivot_dir / "example.jsonl").open() if row["uuid"] in r)
    assert rescore_rollout(row, task=expected).reward == 0.0  # the recorded output has no function call
    call = {
        "type": "function_call",
        "name": "ExecuteBash",
        "arguments": json.dumps(
            {"command": "python -m pytest /workspace/proj/tests/test_utils.py -q", "security_risk": "LOW"}
        ),
    }
    row["response"] = {**row["response"], "output": [call]}
    assert rescore_rollout(row, task=expected).reward == 1.0  # CamelCase alias, extra key ignored
    call["arguments"] = json.dumps({"command": "grep -rn total /workspace/proj"})
    assert rescore_rollout(row, task=expected).failure_reason == "target_mismatch"


@pytest.mark.parametrize(
    ("name", "category"),
    [
        ("str_replace_editor", "edit"),
        ("StrReplaceEditor", "edit"),
        ("execute_bash", "bash"),
        ("ExecCmd", "bash"),
        ("list_directory", "search"),
        ("view_file", "read"),
        ("submit", "finish"),
        ("think", "think"),
        ("todo_write", "planning"),
        ("some_random_tool", "unknown"),
    ],
)
def test_tool_categories(name, category):
    assert tool_category(name) == category


def test_target_levels_as_nvidia_tests():
    edit = {"command": "str_replace", "path": "/workspace/views.py"}
    assert not target_match("edit", edit, "edit", {**edit, "path": "/workspace/models.py"})
    assert target_match(
        "edit", {"path": "/workspace_v2/src/foo.py"}, "edit", {"path": "/workspace/src/foo.py"}
    )
    view = {"command": "view", "path": "/foo.py"}
    assert target_match(
        "edit", {**view, "view_range": [210, 260]}, "edit", {**view, "view_range": [200, 250]}
    )
    assert not target_match(
        "edit", {**view, "view_range": [240, 290]}, "edit", {**view, "view_range": [200, 250]}
    )
    assert target_match(
        "edit", {**view, "view_range": "[200, 250]"}, "edit", {**view, "view_range": [200, 250]}
    )
    assert target_match("edit", view, "edit", {**view, "view_range": [200, 250]})
    assert not target_match(
        "bash", {"command": "grep -r 'p' src/views/"}, "bash", {"command": "grep -r 'p' src/models/"}
    )
    assert target_match(
        "bash",
        {"command": "cd /workspace/project && ls"},
        "bash",
        {"command": "cd /workspace/project && git status"},
    )
    assert not target_match("bash", {"command": "grep -r 'foo' ."}, "bash", {"command": "pytest tests/"})
    assert command_paths("echo hello world") == []


def test_similarity_and_shaping_as_nvidia_tests():
    assert argument_similarity("edit", {"old_str": "foo", "new_str": "bar"}, "edit", {}) == 0.0
    assert argument_similarity("edit", {}, "edit", {}) == 1.0
    sim = argument_similarity(
        "edit", {"old_str": "x = 1", "new_str": "x = 2"}, "edit", {"old_str": "x = 1", "new_str": "x = 3"}
    )
    assert 0.5 < sim < 1.0
    assert diff_size_penalty("edit", {"old_str": "x", "new_str": "y" * 600}, 0.1) == pytest.approx(0.1)
    assert diff_size_penalty("bash", {"command": "ls"}, 0.1) == 0.0


def test_binary_and_continuous_modes():
    want = (
        "str_replace_editor",
        {"command": "str_replace", "path": "/foo.py", "old_str": "if x > 0:", "new_str": "if x >= 0:"},
    )
    got = ("str_replace_editor", {**want[1], "new_str": "if x > 0:  # fixed"})
    cont = score_calls(got, want, PivotConfig(reward_mode="continuous"))
    assert 0.3 < cont.reward < 1.0 and cont.failure_reason == "none"
    binary = score_calls(got, want)
    assert binary.reward == 0.0 and binary.failure_reason == "similarity_below_threshold"
    assert score_calls(want, want).reward == 1.0
    assert score_calls(("tool_a", {}), ("tool_b", {})).failure_reason == "tool_name_mismatch"
    assert score_calls(None, want).failure_reason == "model_output_invalid"


def test_swe_pivot_verifier_through_the_registry():
    verifier = get_registry().verifier("swe_pivot")
    call = ToolCall("execute_bash", {"command": "python -m pytest tests/test_a.py -q"}, id="c1")
    cand = Candidate(
        "t:1", "swe", "t", 1, (Message("user", "run the tests"),), Message("assistant", tool_calls=(call,))
    )
    assert verifier.verify(cand, Message("assistant", tool_calls=(call,))).passed
    other = ToolCall("bash", {"command": "ls -la"})
    verdict = verifier.verify(cand, Message("assistant", tool_calls=(other,)))
    assert not verdict.passed and verdict.reason == "target_mismatch"
