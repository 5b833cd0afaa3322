"""The code examples of docs/verifiers.md run as written."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
import types
from pathlib import Path

import pytest
from verifier_helpers import call, cand, say

from pivotrl_core.jsonl import write_jsonl
from pivotrl_core.plugins import get_registry
from pivotrl_core.testing import check_verifier
from pivotrl_core.types import Message

DOC = Path(__file__).resolve().parents[1] / "docs" / "verifiers.md"


def example(name: str) -> str:
    m = re.search(rf"<!-- doctest: {name} -->\n```\w+\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)
    assert m, f"example {name!r} not found in {DOC}"
    return m.group(1)


def test_custom_verifier_example_is_fifteen_lines_and_works(register_plugin):
    code = example("custom-verifier")
    assert len([line for line in code.splitlines() if line.strip()]) <= 15
    module = types.ModuleType("same_tools")
    exec(compile(code, "same_tools.py", "exec"), module.__dict__)
    reg = register_plugin(module, name="same_tools")
    v = reg.verifier("same_tools")
    assert (v.name, v.deterministic, v.cost) == ("same_tools", True, "cheap")
    c = cand(call("lookup", id="1"))
    assert v.verify(c, call("lookup", id="2")).passed
    assert not v.verify(c, call("cancel", id="1")).passed
    report = check_verifier(v, [c, cand(say("Hello!"), cid="t:2")])
    assert {w.check for w in report.warnings} == {"message garbage", "argument garbage"}


def test_custom_verifier_example_from_the_command_line(tmp_path):
    plugin = tmp_path / "same_tools.py"
    plugin.write_text(example("custom-verifier"))
    write_jsonl(tmp_path / "c.jsonl", [cand(call("lookup", id="1")), cand(say("Hello!"), cid="t:2")])
    pivotrl = Path(sys.executable).parent / "pivotrl"
    proc = subprocess.run(
        [
            str(pivotrl),
            "--plugin",
            str(plugin),
            "check-verifier",
            "--verifier",
            "same_tools",
            str(tmp_path / "c.jsonl"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "verifier QA passed" in proc.stdout


@pytest.fixture
def python_cascade(pivotrl_pm):
    scope: dict = {}
    exec(example("cascade-python"), scope)
    return scope["verifier"]


def test_cascade_examples_build_the_same_verifier(python_cascade):
    toml = get_registry().verifier_from_spec(tomllib.loads(example("cascade-toml"))["verifier"])
    assert toml.describe() == python_cascade.describe()
    assert [(s.verifier.name, s.stop_on) for s in toml.steps] == [
        ("json_schema", "fail"),
        ("fuzzy", "pass"),
        ("llm_judge", "any"),
    ]
    assert toml.steps[2].verifier.swap and toml.cost == "expensive"


def test_cascade_example_gate_and_shortcut_decide_without_the_judge(python_cascade):
    expected = say('{"analysis": "list files", "commands": [{"keystrokes": "ls -la\\n"}]}')
    c = cand(expected)
    no_commands = python_cascade.verify(c, Message("assistant", content='{"analysis": "done"}'))
    assert not no_commands.passed and no_commands.details["decided_by"] == "0:json_schema"
    same = python_cascade.verify(c, Message("assistant", content=expected.content.replace("list", "List")))
    assert same.passed and same.details["decided_by"] == "1:fuzzy"
