"""Parity with NVIDIA NeMo Gym's terminus_judge on its shipped rollouts (every row)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pivotrl_terminal.verifier import TerminalVerifier

from pivotrl_core.formats.nemo_gym import row_to_candidate
from pivotrl_core.types import Message
from pivotrl_core.verifiers.base import run_verifier

NVIDIA_FIELDS = (
    "schema_check_passed",
    "task_complete_check_passed",
    "similarity_score",
    "string_similarity_passed",
)


def _rows(folder: Path, name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (folder / name).read_text().splitlines() if line.strip()]


def _generated(row: dict[str, Any]) -> str:
    """The rollout's last assistant text, extracted the way NVIDIA's server does."""
    for item in reversed(row["response"]["output"]):
        if item.get("type") == "message" and item.get("role") == "assistant":
            return "\n".join(c["text"] for c in item["content"] if isinstance(c.get("text"), str)).strip()
    return ""


def _replayed(evaluation: dict[str, Any]) -> str:
    """NVIDIA's recorded judge answer, with its verdict label moved alone onto the last line."""
    text = evaluation["response"]["output"][-1]["content"][-1]["text"]
    label = evaluation["verdict_label"]
    return text[: text.rfind(label)].rstrip() + "\n" + label


def test_schema_and_similarity_match_nvidia_on_every_rollout(terminus_dir: Path) -> None:
    rows = _rows(terminus_dir, "example_rollouts.jsonl")
    assert len(rows) == 5
    verifier = TerminalVerifier(judge="off", sandbox="off")
    for i, row in enumerate(rows):
        cand = row_to_candidate(row, i, domain="terminal")
        verdict = run_verifier(verifier, cand, Message("assistant", _generated(row)))
        assert not verdict.errored, verdict.error
        for key in NVIDIA_FIELDS:
            assert verdict.details[key] == row[key], (row["uuid"], key, verdict.details[key], row[key])
        assert verdict.details["harness"] == row["metadata"]["harness"]
        assert not verdict.passed and verdict.score == row["reward"] == 0.0


def test_judge_cascade_with_swap_matches_nvidia_decisions(terminus_dir: Path, judge_server) -> None:  # noqa: ANN001
    """Replaying NVIDIA's recorded judge answers reproduces its judge calls, decisions and rewards."""
    rows = _rows(terminus_dir, "example_rollouts.jsonl")
    verifier = TerminalVerifier(sandbox="off", judge=judge_server.options())
    for i, row in enumerate(rows):
        judge_server.prompts.clear()
        judge_server.answers.extend(_replayed(ev) for ev in row["judge_evaluations"])
        cand = row_to_candidate(row, i, domain="terminal")
        sampled = _generated(row)
        verdict = run_verifier(verifier, cand, Message("assistant", sampled))
        assert len(judge_server.prompts) == len(row["judge_evaluations"]), row["uuid"]
        assert verdict.details["judge_passed"] == row["judge_passed"]
        assert verdict.details["failure_reason"] == row["failure_reason"]
        assert verdict.score == row["reward"]
        gold, cand_text = json.dumps(row["expected_answer"]), json.dumps(sampled)
        first = judge_server.prompts[0]
        assert first.index(gold) < first.index(cand_text)  # ACTION_A is the demonstration ...
        if len(judge_server.prompts) == 2:
            second = judge_server.prompts[1]
            assert second.index(cand_text) < second.index(gold)  # ... and swapped in the second call


def test_demonstrations_pass_against_themselves(terminus_dir: Path) -> None:
    verifier = TerminalVerifier(judge="off", sandbox="off")
    for i, row in enumerate(_rows(terminus_dir, "example.jsonl")):
        cand = row_to_candidate(row, i, domain="terminal")
        verdict = verifier.verify(cand, cand.expected)
        assert verdict.passed and verdict.details["similarity_score"] == 1.0


@pytest.mark.parametrize(
    ("sampled", "reason"),
    [
        ("not json at all", "json_parsing_failed"),
        ('{"analysis": "a", "plan": "p"}', "schema_check_failed"),  # commands missing
        ('{"analysis": "a", "plan": "p", "commands": [], "extra": 1}', "schema_check_failed"),
        ('{"analysis": "a", "plan": "p", "commands": [{"keystrokes": 5}]}', "schema_check_failed"),
        (
            '{"analysis": "a", "plan": "p", "commands": [{"keystrokes": "ls\\n", "wait": 1}]}',
            "schema_check_failed",
        ),
        (
            '{"analysis": "a", "plan": "p", "commands": [], "task_complete": true}',
            "task_complete_check_failed",
        ),
        ("[1, 2]", "schema_check_failed"),
    ],
)
def test_failure_reasons(sampled: str, reason: str) -> None:
    from pivotrl_core.types import Candidate

    expected = {"analysis": "x", "plan": "y", "commands": [{"keystrokes": "ls -la\n", "duration": 0.1}]}
    cand = Candidate(id="c:1", domain="terminal", trajectory_id="c", turn_index=1, messages=(Message("user", "go"),),
                     expected=Message("assistant", json.dumps(expected)), metadata={"harness": "terminus_2"})  # fmt: skip
    verdict = TerminalVerifier(judge="off", sandbox="off").verify(cand, Message("assistant", sampled))
    assert not verdict.passed and verdict.details["failure_reason"] == reason


def test_thinking_is_stripped_and_near_copies_pass_the_fast_path() -> None:
    from pivotrl_core.types import Candidate

    expected = {
        "analysis": "x",
        "plan": "y",
        "commands": [{"keystrokes": "ls -la /testbed\n", "duration": 0.1}],
    }
    sampled = {
        "analysis": "other",
        "plan": "words",
        "commands": [{"keystrokes": "ls -la /testbed \n", "duration": 1}],
    }
    cand = Candidate(id="c:1", domain="terminal", trajectory_id="c", turn_index=1, messages=(Message("user", "go"),),
                     expected=Message("assistant", json.dumps(expected)))  # fmt: skip
    text = "<think>the user wants a listing</think>\n" + json.dumps(sampled)
    verdict = TerminalVerifier(judge="off", sandbox="off").verify(cand, Message("assistant", text))
    assert verdict.passed and verdict.details["string_similarity_passed"]
    assert verdict.details["similarity_score"] >= 0.95
