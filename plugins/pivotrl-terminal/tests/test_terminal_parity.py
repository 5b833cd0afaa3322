"""Parity with NVIDIA NeMo Gym's terminus_judge on its shipped rollouts (every row)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pivotrl_terminal.judge import find_label, nvidia_prompt
from pivotrl_terminal.verifier import TerminalVerifier

from pivotrl_core import Message, row_to_candidate, run_verifier

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


def _recorded(evaluation: dict[str, Any]) -> str:
    """NVIDIA's recorded judge answer, unchanged."""
    return evaluation["response"]["output"][-1]["content"][-1]["text"]


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


def _replay(rows: list[dict[str, Any]], judge_server, **judge: Any) -> list[Any]:  # noqa: ANN001
    """Score every rollout with NVIDIA's recorded judge answers served by the loopback judge."""
    verifier = TerminalVerifier(sandbox="off", judge={**judge_server.options(), **judge})
    verdicts = []
    for i, row in enumerate(rows):
        judge_server.prompts.clear()
        judge_server.requests.clear()
        judge_server.answers.extend(_recorded(ev) for ev in row["judge_evaluations"])
        cand = row_to_candidate(row, i, domain="terminal")
        verdict = run_verifier(verifier, cand, Message("assistant", _generated(row)))
        assert not verdict.errored, verdict.error
        assert len(judge_server.prompts) == len(row["judge_evaluations"]), row["uuid"]
        assert verdict.details["judge"]["labels"] == [ev["verdict_label"] for ev in row["judge_evaluations"]]
        assert verdict.details["judge_passed"] == row["judge_passed"]
        assert verdict.details["failure_reason"] == row["failure_reason"]
        assert verdict.score == row["reward"]
        verdicts.append(verdict)
    return verdicts


def test_nvidia_prompt_rescores_the_rollouts_to_nvidias_rewards(terminus_dir: Path, judge_server) -> None:  # noqa: ANN001
    """NVIDIA's prompt, its label rule and swap: the same prompts, labels, judge calls and rewards."""
    rows = _rows(terminus_dir, "example_rollouts.jsonl")
    rewards = [v.score for v in _replay(rows, judge_server, prompt="nvidia")]
    assert rewards == [row["reward"] for row in rows] == [0.0] * 5
    for row in rows:  # the prompts sent are NVIDIA's recorded ones, byte for byte
        judge_server.prompts.clear()
        judge_server.requests.clear()
        judge_server.answers.extend(_recorded(ev) for ev in row["judge_evaluations"])
        verifier = TerminalVerifier(sandbox="off", judge={**judge_server.options(), "prompt": "nvidia"})
        run_verifier(
            verifier, row_to_candidate(row, 0, domain="terminal"), Message("assistant", _generated(row))
        )
        recorded = [ev["responses_create_params"]["input"] for ev in row["judge_evaluations"]]
        assert [r["messages"] for r in judge_server.requests] == [
            [{"role": m["role"], "content": m["content"]} for m in inp] for inp in recorded
        ]


def test_pivotrl_prompt_with_nvidias_answers_gives_nvidias_decisions(
    terminus_dir: Path, judge_server
) -> None:  # noqa: ANN001
    """The default (fenced) prompt; NVIDIA's answers unchanged, labels found where NVIDIA finds them."""
    rows = _rows(terminus_dir, "example_rollouts.jsonl")
    _replay(rows, judge_server)
    row = rows[-1]  # the one NVIDIA asked twice
    judge_server.answers.extend(_recorded(ev) for ev in row["judge_evaluations"])
    judge_server.prompts.clear()
    verifier = TerminalVerifier(sandbox="off", judge=judge_server.options())
    sampled = _generated(row)
    run_verifier(verifier, row_to_candidate(row, 0, domain="terminal"), Message("assistant", sampled))
    gold, cand_text = json.dumps(row["expected_answer"]), json.dumps(sampled)
    first, second = judge_server.prompts
    assert first.index(gold) < first.index(cand_text)  # ACTION_A is the demonstration ...
    assert second.index(cand_text) < second.index(gold)  # ... and swapped in the second call


@pytest.mark.parametrize(
    ("answer", "label"),
    [
        ("reasons...\n\n[[A=B]] they are equivalent", True),
        ("reasons...\n\n[[A!=B]] they are not equivalent", False),
        ("5. **Final verdict**: [[A!=B]]", False),
        ("[[A=B]] at first sight" + "x" * 300 + "\nFinal verdict: [[A!=B]]", False),  # tail: rightmost
        ("no [[A!=B]] here? yes [[A=B]]. Final verdict: [[A!=B]] after all", False),
        ("Earlier I thought [[A!=B]], then [[A=B]]" + " ..." * 80, False),  # not in tail: first wins
        ("Earlier I thought [[A=B]], then [[A!=B]]" + " ..." * 80, True),
        ("[[a=b]] they are equivalent", None),  # case sensitive, as NVIDIA's str.find
        ("they are equivalent", None),
        ("", None),
    ],
)
def test_label_anywhere_by_nvidias_rule(answer: str, label: bool | None) -> None:
    assert find_label(answer) is label


def test_the_old_first_label_rule_agrees_on_the_shipped_answers(terminus_dir: Path) -> None:
    """The rollouts were recorded by NVIDIA's earlier rule (first label anywhere): same labels."""
    for row in _rows(terminus_dir, "example_rollouts.jsonl"):
        for ev in row["judge_evaluations"]:
            text = _recorded(ev)
            y, n = text.find("[[A=B]]"), text.find("[[A!=B]]")
            first_rule = y >= 0 and (n < 0 or y < n)
            assert find_label(text) is first_rule is (ev["verdict_label"] == "[[A=B]]")


def test_nvidia_prompt_is_the_recorded_template(terminus_dir: Path) -> None:
    row = _rows(terminus_dir, "example_rollouts.jsonl")[0]
    recorded = row["judge_evaluations"][0]["responses_create_params"]["input"][0]["content"]
    rendered = nvidia_prompt("nvidia").format(
        expected_answer=row["expected_answer"], generated_answer=row["model_output"]
    )
    assert rendered == recorded


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
    from pivotrl_core import Candidate

    expected = {"analysis": "x", "plan": "y", "commands": [{"keystrokes": "ls -la\n", "duration": 0.1}]}
    cand = Candidate(
        id="c:1",
        domain="terminal",
        trajectory_id="c",
        turn_index=1,
        messages=(Message("user", "go"),),
        expected=Message("assistant", json.dumps(expected)),
        metadata={"harness": "terminus_2"},
    )
    verdict = TerminalVerifier(judge="off", sandbox="off").verify(cand, Message("assistant", sampled))
    assert not verdict.passed and verdict.details["failure_reason"] == reason


def test_thinking_is_stripped_and_near_copies_pass_the_fast_path() -> None:
    from pivotrl_core import Candidate

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
    cand = Candidate(
        id="c:1",
        domain="terminal",
        trajectory_id="c",
        turn_index=1,
        messages=(Message("user", "go"),),
        expected=Message("assistant", json.dumps(expected)),
    )
    text = "<think>the user wants a listing</think>\n" + json.dumps(sampled)
    verdict = TerminalVerifier(judge="off", sandbox="off").verify(cand, Message("assistant", text))
    assert verdict.passed and verdict.details["string_similarity_passed"]
    assert verdict.details["similarity_score"] >= 0.95


def _cand(expected: Any, **meta: Any):  # noqa: ANN202
    from pivotrl_core import Candidate

    text = expected if isinstance(expected, str) else json.dumps(expected)
    return Candidate(
        id="c:1",
        domain="terminal",
        trajectory_id="c",
        turn_index=1,
        messages=(Message("user", "go"),),
        expected=Message("assistant", text),
        metadata=meta,
    )


T2 = {"analysis": "x", "plan": "y", "commands": [{"keystrokes": "ls -la\n", "duration": 0.1}]}


def test_task_complete_two_way_by_default_one_way_as_nvidia() -> None:
    sampled = Message("assistant", json.dumps({**T2, "task_complete": True}))  # completes early
    two_way = TerminalVerifier(judge="off", sandbox="off").verify(_cand(T2), sampled)
    assert not two_way.passed and two_way.details["failure_reason"] == "task_complete_check_failed"
    one_way = TerminalVerifier(judge="off", sandbox="off", task_complete="one_way").verify(_cand(T2), sampled)
    assert one_way.passed and one_way.details["task_complete_check_passed"]
    done = _cand({**T2, "task_complete": True})  # a completing demonstration needs a completing sample
    v = TerminalVerifier(judge="off", sandbox="off", task_complete="one_way").verify(
        done, Message("assistant", json.dumps(T2))
    )
    assert v.details["failure_reason"] == "task_complete_check_failed"


@pytest.mark.parametrize(
    ("expected", "meta", "reason"),
    [
        (T2, {"harness": "terminus_3"}, "unknown_harness"),
        ({"analysis": "x", "plan": "y"}, {}, "expected_answer_invalid"),  # fails its schema
        (T2, {"harness": "terminus_1"}, "expected_answer_invalid"),  # declared harness, other keys
        ("I will list the files", {}, "expected_answer_invalid"),
    ],
)
def test_bad_demonstrations_are_errored_not_scored(expected: Any, meta: dict[str, Any], reason: str) -> None:
    v = run_verifier(
        TerminalVerifier(judge="off", sandbox="off"),
        _cand(expected, **meta),
        Message("assistant", json.dumps(T2)),
    )
    assert v.errored and v.details["failure_reason"] == reason, v


def test_think_wrapped_demonstration_is_scored_on_its_answer() -> None:
    cand = _cand("<think>list first</think>\n" + json.dumps(T2))
    v = TerminalVerifier(judge="off", sandbox="off").verify(cand, Message("assistant", json.dumps(T2)))
    assert v.passed and v.details["similarity_score"] == 1.0


def test_per_row_threshold_wins_over_the_option(terminus_dir: Path) -> None:
    row = dict(_rows(terminus_dir, "example_rollouts.jsonl")[0], threshold=0.1)  # similarity 0.179
    cand = row_to_candidate(row, 0, domain="terminal")
    v = run_verifier(
        TerminalVerifier(judge="off", sandbox="off"), cand, Message("assistant", _generated(row))
    )
    assert v.passed and v.details["threshold"] == 0.1 and v.details["string_similarity_passed"]
    bad = row_to_candidate(dict(row, threshold=2), 0, domain="terminal")
    assert (
        "threshold"
        in run_verifier(TerminalVerifier(judge="off", sandbox="off"), bad, Message("assistant", "{}")).error
    )


def test_lowercase_label_is_no_answer_and_errored(judge_server) -> None:  # noqa: ANN001
    judge_server.answers.append("They match.\n[[a=b]]")
    verifier = TerminalVerifier(sandbox="off", threshold=1.0, judge=judge_server.options())
    other = {**T2, "commands": [{"keystrokes": "ls -al\n"}]}
    v = run_verifier(verifier, _cand(T2), Message("assistant", json.dumps(other)))
    assert v.errored and v.details["failure_reason"] == "judge_parsing_failed"
    judge_server.answers.extend(["Same.\n[[A=B]]", "Hmm, hard to say."])  # the swapped call has no label
    v = run_verifier(verifier, _cand(T2), Message("assistant", json.dumps(other)))
    assert v.errored and v.details["failure_reason"] == "judge_swap_parsing_failed"
    assert v.details["judge"]["labels"] == ["[[A=B]]", None]


def test_swap_defaults_follow_nvidias_configs(judge_server) -> None:  # noqa: ANN001
    opts = judge_server.options()
    assert TerminalVerifier(sandbox="off", judge=opts).judge.swap is True
    assert TerminalVerifier(sandbox="off", judge={**opts, "prompt": "nvidia"}).judge.swap is True
    assert TerminalVerifier(sandbox="off", judge={**opts, "prompt": "nvidia_rubrics_v4"}).judge.swap is False
    assert (
        TerminalVerifier(sandbox="off", judge={**opts, "prompt": "nvidia", "swap": False}).judge.swap is False
    )
