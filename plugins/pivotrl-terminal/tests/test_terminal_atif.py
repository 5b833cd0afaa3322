"""Harbor ATIF trajectories -> trajectories -> terminal candidates (``pivotrl terminal atif``)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from pivotrl_terminal.atif import AtifFormat, atif_to_trajectory
from pivotrl_terminal.extract import extract_terminal
from pivotrl_terminal.terminus2 import initial_prompt, parse_error_prompt
from pivotrl_terminal.verifier import TerminalVerifier

from pivotrl_core import ExtractOptions, InputError, Message

HARBOR = "harbor-0.25.0-py3-none-any.whl"


def _step(step_id: int, source: str, message: str, **extra: Any) -> dict[str, Any]:
    return {
        "step_id": step_id,
        "timestamp": "2026-12-01T10:00:00+00:00",
        "source": source,
        "message": message,
        **extra,
    }


def _bash(episode: int, *keys: str) -> list[dict[str, Any]]:
    return [
        {
            "tool_call_id": f"call_{episode}_{i + 1}",
            "function_name": "bash_command",
            "arguments": {"keystrokes": k, "duration": 0.1},
        }
        for i, k in enumerate(keys)
    ]


def terminus_run() -> dict[str, Any]:
    """A Terminus-2 run recorded the way Harbor 0.25's Terminus2 agent records it."""
    prompt = initial_prompt("Count the ERROR lines of logs/app.log into error_count.txt.", "root@box:/work# ")
    done = [{"tool_call_id": "call_3_task_complete", "function_name": "mark_task_complete", "arguments": {}}]
    steps = [
        _step(1, "user", prompt),
        _step(
            2,
            "agent",
            "Analysis: Nothing done yet.\nPlan: Look at the log.",
            tool_calls=_bash(0, "ls logs\n"),
            reasoning_content="The log is in logs/.",
            observation={"results": [{"source_call_id": "call_0_1", "content": "app.log\n"}]},
        ),
        _step(
            3,
            "agent",
            "Sure, I will count them.",
            observation={"results": [{"content": parse_error_prompt("No valid JSON found in response")}]},
        ),
        _step(
            4,
            "agent",
            "Analysis: The log exists.\nPlan: Count with grep.",
            tool_calls=_bash(2, "cd logs\n", "grep -c ERROR app.log > ../error_count.txt\n"),
            observation={"results": [{"content": "root@box:/work/logs# "}]},
        ),
        _step(
            5,
            "agent",
            "Analysis: Written.\nPlan: Done.",
            tool_calls=[*_bash(3, "cat ../error_count.txt\n"), *done],
            observation={"results": [{"source_call_id": "call_3_1", "content": "3\n"}]},
        ),
    ]
    return {
        "schema_version": "ATIF-v1.6",
        "session_id": "run-1",
        "agent": {"name": "terminus-2", "version": "2.0.0", "model_name": "openai/gpt-5"},
        "steps": steps,
        "final_metrics": {"total_prompt_tokens": 10, "total_completion_tokens": 5},
    }


def test_a_terminus_2_run_becomes_its_chat_and_candidates() -> None:
    traj = next(AtifFormat().parse(terminus_run(), 0))
    roles = [m.role for m in traj.messages]
    assert roles == [
        "user",
        "assistant",
        "user",
        "assistant",
        "user",
        "assistant",
        "user",
        "assistant",
        "user",
    ]
    first = json.loads(traj.messages[1].content)
    assert first == {
        "analysis": "Nothing done yet.",
        "plan": "Look at the log.",
        "commands": [{"keystrokes": "ls logs\n", "duration": 0.1}],
        "task_complete": False,
    }
    assert traj.messages[1].reasoning == "The log is in logs/." and traj.metadata["harness"] == "terminus_2"
    assert (
        traj.messages[3].content == "Sure, I will count them."
    )  # a turn that did not parse stays as written
    assert json.loads(traj.messages[7].content)["task_complete"] is True
    cands = list(extract_terminal(traj, ExtractOptions(domain="terminal")))
    assert [c.turn_index for c in cands] == [1, 5, 7]  # the unparsable turn is no demonstration
    verifier = TerminalVerifier(judge="off", sandbox="off")
    assert all(verifier.verify(c, c.expected).passed for c in cands)
    assert json.loads(cands[1].expected.content)["commands"][1]["keystrokes"].startswith("grep -c ERROR")


def test_copied_context_is_context_not_demonstrations() -> None:
    doc = terminus_run()
    doc["steps"][1]["is_copied_context"] = True
    traj = atif_to_trajectory(doc)
    assert [c.turn_index for c in extract_terminal(traj, ExtractOptions(domain="terminal"))] == [5, 7]


def test_other_agents_keep_their_tool_calls() -> None:
    doc = {
        "schema_version": "ATIF-v1.2",
        "agent": {"name": "claude-code", "version": "1"},
        "steps": [
            _step(1, "user", "fix the bug"),
            _step(
                2,
                "agent",
                "",
                tool_calls=[{"tool_call_id": "t1", "function_name": "Bash", "arguments": {"command": "ls"}}],
                observation={"results": [{"source_call_id": "t1", "content": "a.py"}]},
            ),
        ],
    }
    traj = atif_to_trajectory(doc)
    assert traj.messages[1].tool_calls[0].name == "Bash" and traj.messages[2].tool_call_id == "t1"
    assert "harness" not in traj.metadata


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d.pop("agent"), "agent"),
        (lambda d: d.update(schema_version="ATIF-v9"), "schema_version"),
        (lambda d: d["steps"][1].update(source="robot"), "steps[1].source"),
        (lambda d: d["steps"][2].update(step_id=7), "steps[2].step_id"),
        (
            lambda d: d["steps"][1]["tool_calls"][0].pop("function_name"),
            "steps[1].tool_calls[0].function_name",
        ),
        (lambda d: d["steps"][1].update(observation={"results": "x"}), "steps[1].observation.results"),
        (lambda d: d["steps"][0].update(message=[{"type": "text"}]), "steps[0].message[0].text"),
    ],
)
def test_bad_atif_names_the_field(change: Any, field: str) -> None:
    doc = terminus_run()
    change(doc)
    with pytest.raises(InputError) as err:
        atif_to_trajectory(doc)
    assert err.value.field == field


def _harbor_trajectory() -> Any:
    folder = Path(os.environ.get("PIVOTRL_REFERENCE_WHEELS", Path.home() / ".cache/pivotrl/reference-wheels"))
    if not (folder / HARBOR).is_file():
        message = f"{folder / HARBOR} not found (see tests/test_terminal_terminus2.py)"
        if os.environ.get("PIVOTRL_REQUIRE_REFERENCE_WHEELS") == "1":
            pytest.fail(message)
        pytest.skip(message)
    sys.path.insert(0, str(folder / HARBOR))
    try:
        from harbor.models.trajectories.trajectory import Trajectory  # the official ATIF schema (pydantic)
    finally:
        sys.path.remove(str(folder / HARBOR))
    return Trajectory


def test_the_fixture_is_valid_atif_by_harbors_own_schema() -> None:
    official = _harbor_trajectory()
    official.model_validate(terminus_run())
    bad = terminus_run()
    bad["steps"][1]["source"] = "robot"
    with pytest.raises(ValueError, match="source"):
        official.model_validate(bad)


def test_atif_files_to_candidates_on_the_command_line(tmp_path: Path) -> None:
    from pivotrl_core.cli import build_cli

    for trial in ("t1", "t2"):
        agent_dir = tmp_path / "job" / trial / "agent"
        agent_dir.mkdir(parents=True)
        (agent_dir / "trajectory.json").write_text(json.dumps(terminus_run(), indent=2))
    runs, cands = tmp_path / "runs.jsonl", tmp_path / "cands.jsonl"
    cli = build_cli()
    res = CliRunner().invoke(cli, ["terminal", "atif", str(tmp_path / "job"), "-o", str(runs)])
    assert res.exit_code == 0 and "2 ATIF trajectories" in res.output, res.output
    res = CliRunner().invoke(cli, ["extract", str(runs), "--domain", "terminal", "-o", str(cands)])
    assert res.exit_code == 0, res.output
    assert len(cands.read_text().splitlines()) == 6
    (tmp_path / "job" / "t2" / "agent" / "trajectory.json").write_text(
        '{"schema_version": "ATIF-v1.6", "steps": []}'
    )
    res = CliRunner().invoke(
        cli, ["terminal", "atif", str(tmp_path / "job"), "-o", str(tmp_path / "x.jsonl")]
    )
    assert res.exit_code == 2 and "t2/agent/trajectory.json: field 'agent'" in res.output, res.output
    assert not (tmp_path / "x.jsonl").exists()


def test_message_roles_survive_into_candidates() -> None:
    traj = atif_to_trajectory(terminus_run())
    cand = next(extract_terminal(traj, ExtractOptions(domain="terminal")))
    assert cand.messages == (Message("user", traj.messages[0].content),)
