"""The Terminus format helpers: keystrokes -> script, similarity edge cases, harness detection."""

from __future__ import annotations

import pytest
from pivotrl_terminal.terminus import (
    command_similarity,
    detect_harness,
    final_text,
    keystroke_script,
    schema_errors,
    task_complete,
)


def _turn(*keys: str) -> dict:
    return {"analysis": "", "plan": "", "commands": [{"keystrokes": k} for k in keys]}


@pytest.mark.parametrize(
    ("keys", "script"),
    [
        (("ls -la\n", "cd app\n"), "ls -la\ncd app\n"),
        (("python3 -c 'print(1)'\n", "vim x"), "python3 -c 'print(1)'\n"),  # a partial line is only typed
        (("cat > f <<EOF\nhi\nEOF\n",), "cat > f <<EOF\nhi\nEOF\n"),  # heredocs stay whole
        (("echo a", "Enter", "C-c", ""), "echo a\n"),  # Enter runs, C-c and waits do nothing
        (("sleep 1", "C-c"), ""),
        ((), ""),
    ],
)
def test_keystroke_script(keys: tuple[str, ...], script: str) -> None:
    assert keystroke_script(_turn(*keys)) == script


def test_similarity_edge_cases_follow_nvidia() -> None:
    assert command_similarity(_turn(), _turn()) == 1.0
    assert command_similarity(_turn("ls\n"), _turn()) == 0.0
    assert command_similarity(_turn("ls\n"), _turn("ls\n")) == 1.0
    a, b = _turn("ls\n", "pwd\n"), _turn("ls\npwd\n")
    assert command_similarity(a, b) == 1.0  # joined with "" by default (NVIDIA's default) ...
    assert command_similarity(a, b, separator=" ") < 1.0  # ... a separator changes the score


def test_harness_detection_and_schemas() -> None:
    t1 = {
        "state_analysis": "s",
        "explanation": "e",
        "is_task_complete": False,
        "commands": [{"keystrokes": "ls\n", "is_blocking": True, "timeout_sec": 3}],
    }
    assert detect_harness(t1) == "terminus_1" and schema_errors(t1, "terminus_1") == []
    assert detect_harness(_turn("ls\n")) == "terminus_2" and schema_errors(_turn("ls\n"), "terminus_2") == []
    bad = dict(t1, commands=[{"keystrokes": "ls\n"}])  # terminus_1 commands need is_blocking and timeout_sec
    assert any("is_blocking" in e for e in schema_errors(bad, "terminus_1"))
    assert schema_errors(t1, "terminus_2")  # the other harness's keys are not allowed
    with pytest.raises(ValueError, match="unknown Terminus harness"):
        schema_errors(t1, "terminus_3")


def test_task_complete_and_final_text() -> None:
    assert task_complete({"task_complete": True}) and task_complete({"is_task_complete": True})
    assert not task_complete({}) and not task_complete({"task_complete": None})
    assert final_text("  <think>a</think>x</think> {}  ") == "{}"
