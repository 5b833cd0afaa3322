"""Readers of SWE agent trajectories, auto-detection and the ``swe`` extractor."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from pivotrl_swe.cli import read_documents
from pivotrl_swe.extract import extract_swe

from pivotrl_core import ExtractOptions, InputError, get_registry
from pivotrl_core.formats.nemo_gym import candidate_to_row, row_to_candidate

SWE = ExtractOptions(domain="swe")
EXPECTED_COMMANDS = {  # per file: the kept calls in order (the 7th marshmallow action was a rejected edit)
    "human_thought": ["bash", "bash", "bash", "bash", "submit"],
    "function_calling": [
        "create",
        "insert",
        "bash",
        "bash",
        "find_file",
        "open",
        "edit",
        "bash",
        "bash",
        "submit",
    ],
    "default_sys": ["bash"] * 9 + ["submit"],
    "xml_sys": ["bash"] * 9 + ["submit"],
}


def _detect(row):
    """Auto-detection as the core does it: the matching format of highest priority, unique."""
    formats = [f for f in get_registry().formats() if f.sniff(row)]
    best = max(getattr(f, "priority", 0) for f in formats)
    (top,) = [f for f in formats if getattr(f, "priority", 0) == best]
    return top


def _traj_files(pack: Path) -> dict[str, Path]:
    files = sorted((pack / "swe-agent-trajectories").glob("*/*.traj"))
    return {key: next(f for f in files if key in f.parent.name) for key in EXPECTED_COMMANDS}


def test_shared_traj_files_give_one_candidate_per_non_error_call(pack):
    for key, path in _traj_files(pack).items():
        (row,) = read_documents(path)
        fmt = _detect(row)
        assert fmt.name == "swe-agent"
        (traj,) = fmt.parse(row, 0)
        cands = list(extract_swe(traj, SWE))
        assert [c.expected.tool_calls[0].name for c in cands] == EXPECTED_COMMANDS[key], key
        errors = traj.metadata["swe"]["error_turns"]
        assert len(errors) == (0 if key == "human_thought" else 1)
        for c in cands:  # the prefix ends with the previous call's observation, answered by id
            prev = c.messages[-1]
            assert prev.role in ("user", "tool")
            if prev.role == "tool":
                assert any(prev.tool_call_id == tc.id for m in c.messages for tc in m.tool_calls)
    (row,) = read_documents(_traj_files(pack)["human_thought"])
    demo = list(extract_swe(next(iter(_detect(row).parse(row, 0))), SWE))
    assert demo[2].expected.tool_calls[0].arguments["command"].startswith("edit 15:15\n")
    assert "abs(elem - elem2)" in demo[2].expected.tool_calls[0].arguments["command"]


def test_swe_extract_command_on_a_traj_file(pack, tmp_path):
    path = _traj_files(pack)["function_calling"]
    out = tmp_path / "c.jsonl"
    pivotrl = Path(sys.executable).with_name("pivotrl")
    res = subprocess.run(
        [str(pivotrl), "swe", "extract", str(path), "-o", str(out)], capture_output=True, text=True
    )
    assert res.returncode == 0, res.stderr
    rows = [json.loads(line) for line in out.open()]
    assert len(rows) == 10 and {r["domain"] for r in rows} == {"swe"}
    assert "wrote 10 candidates" in res.stdout


MINI = {
    "trajectory_format": "mini-swe-agent-1",
    "info": {"exit_status": "Submitted", "submission": ""},
    "messages": [
        {"role": "system", "content": "You are a helpful assistant that can interact with a computer."},
        {"role": "user", "content": "<pr_description>fix total()</pr_description>"},
        {"role": "assistant", "content": "THOUGHT: look around\n\n```bash\nls -la\n```"},
        {"role": "user", "content": "<returncode>0</returncode>\n<output>\nfoo.py\n</output>"},
        {"role": "assistant", "content": "THOUGHT: two at once\n\n```bash\nls\n```\n```bash\npwd\n```"},
        {
            "role": "user",
            "content": "Please always provide EXACTLY ONE action in triple backticks, found 2 actions.",
        },
        {"role": "assistant", "content": "THOUGHT: run it\n\n```bash\npytset -q\n```"},
        {
            "role": "user",
            "content": "<returncode>127</returncode>\n<output>\nbash: pytset: command not found\n</output>",
        },
        {
            "role": "assistant",
            "content": "THOUGHT: fix\n\n```bash\nsed -i 's/return None/return sum(v)/' foo.py\n```",
        },
        {"role": "user", "content": "<returncode>0</returncode>\n<output>\n</output>"},
        {
            "role": "assistant",
            "content": "THOUGHT: done\n\n```bash\necho COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT\n```",
        },
    ],
}


def test_mini_swe_agent_turns_and_errors():
    fmt = _detect(MINI)
    assert fmt.name == "mini-swe-agent"
    (traj,) = fmt.parse(MINI, 0)
    cands = list(extract_swe(traj, SWE))
    commands = [c.expected.tool_calls[0].arguments["command"] for c in cands]
    assert commands == [
        "ls -la",
        "sed -i 's/return None/return sum(v)/' foo.py",
        "echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT",
    ]
    assert len(traj.metadata["swe"]["error_turns"]) == 2  # the format error and the 127


OPENHANDS_V0 = {
    "instance_id": "demo-1",
    "history": [
        {"id": 0, "source": "user", "action": "message", "args": {"content": "Fix total() in foo.py"}},
        {
            "id": 1,
            "source": "agent",
            "action": "run",
            "args": {"command": "cat foo.py", "thought": "look"},
            "tool_call_metadata": {
                "function_name": "execute_bash",
                "tool_call_id": "t1",
                "model_response": {
                    "choices": [
                        {
                            "message": {
                                "tool_calls": [
                                    {
                                        "id": "t1",
                                        "function": {
                                            "name": "execute_bash",
                                            "arguments": '{"command": "cat foo.py"}',
                                        },
                                    }
                                ]
                            }
                        }
                    ]
                },
            },
        },
        {
            "id": 2,
            "source": "agent",
            "observation": "run",
            "cause": 1,
            "content": "def total(v): return None",
            "extras": {"metadata": {"exit_code": 0}},
            "tool_call_metadata": {"tool_call_id": "t1"},
        },
        {
            "id": 3,
            "source": "agent",
            "action": "edit",
            "args": {"path": "/w/foo.py", "command": "str_replace", "old_str": "nope", "new_str": "x"},
            "tool_call_metadata": {"function_name": "str_replace_editor", "tool_call_id": "t2"},
        },
        {
            "id": 4,
            "source": "agent",
            "observation": "error",
            "cause": 3,
            "content": "No replacement was performed",
            "extras": {},
            "tool_call_metadata": {"tool_call_id": "t2"},
        },
        {
            "id": 5,
            "source": "agent",
            "action": "finish",
            "args": {"final_thought": "done"},
            "tool_call_metadata": {"function_name": "finish", "tool_call_id": "t3"},
        },
    ],
}

OPENHANDS_V1 = {
    "events": [
        {
            "kind": "SystemPromptEvent",
            "source": "agent",
            "system_prompt": {"type": "text", "text": "You are OpenHands."},
        },
        {
            "kind": "MessageEvent",
            "source": "user",
            "llm_message": {"role": "user", "content": [{"type": "text", "text": "Fix it"}]},
        },
        {
            "kind": "ActionEvent",
            "source": "agent",
            "thought": [{"type": "text", "text": "grep"}],
            "tool_name": "terminal",
            "tool_call_id": "a1",
            "tool_call": {"id": "a1", "name": "terminal", "arguments": '{"command": "grep -rn total ."}'},
        },
        {
            "kind": "ObservationEvent",
            "source": "environment",
            "tool_call_id": "a1",
            "observation": {
                "kind": "TerminalObservation",
                "content": [{"type": "text", "text": "./foo.py:1"}],
                "exit_code": 0,
            },
        },
        {
            "kind": "ActionEvent",
            "source": "agent",
            "tool_name": "file_editor",
            "tool_call_id": "a2",
            "tool_call": {"id": "a2", "name": "file_editor", "arguments": '{"command": "view"}'},
        },
        {
            "kind": "AgentErrorEvent",
            "source": "agent",
            "tool_call_id": "a2",
            "error": "missing required field path",
        },
    ]
}


@pytest.mark.parametrize(
    ("row", "names", "n_errors"),
    [(OPENHANDS_V0, ["execute_bash", "finish"], 1), (OPENHANDS_V1, ["terminal"], 1)],
)
def test_openhands_events(row, names, n_errors):
    fmt = _detect(row)
    assert fmt.name == "openhands"
    (traj,) = fmt.parse(row, 0)
    cands = list(extract_swe(traj, SWE))
    assert [c.expected.tool_calls[0].name for c in cands] == names
    assert len(traj.metadata["swe"]["error_turns"]) == n_errors
    assert cands[0].messages[-1].role == "user"


def test_nemo_gym_swe_pivot_rows_round_trip_and_stay_single_pivots(swe_pivot_dir):
    for line in (swe_pivot_dir / "example.jsonl").open():
        row = json.loads(line)
        assert _detect(row).name == "nemo-gym"
        cand = row_to_candidate(row, domain="swe")
        assert candidate_to_row(cand) == row
        (traj,) = _detect(row).parse(row, 0)
        (swe_cand,) = list(extract_swe(traj, SWE))
        assert swe_cand.expected == cand.expected


def test_bad_traj_row_names_the_field():
    bad = {"history": [{"role": "robot", "content": "x"}], "trajectory": [], "info": {}}
    with pytest.raises(InputError, match="role"):
        list(_detect(bad).parse(bad, 0))


def test_core_extract_reads_each_shared_traj_file(pack, tmp_path):
    """``pivotrl extract FILE.traj --domain swe`` reads the whole-JSON document and gives one
    candidate per non-error tool call, the same as ``pivotrl swe extract``."""
    pivotrl = Path(sys.executable).with_name("pivotrl")
    for key, path in _traj_files(pack).items():
        out = tmp_path / f"{key}.jsonl"
        res = subprocess.run(
            [str(pivotrl), "extract", str(path), "--domain", "swe", "-o", str(out)],
            capture_output=True,
            text=True,
        )
        assert res.returncode == 0, res.stderr
        rows = [json.loads(line) for line in out.open()]
        names = [r["expected"]["tool_calls"][0]["name"] for r in rows]
        assert names == EXPECTED_COMMANDS[key], key
