"""The Terminus-2 prompt rendering against the official harness in the ``harbor`` wheel.

The wheels need Python >= 3.12 and do not install beside pivotrl; the test reads them as zip
files from ``$PIVOTRL_REFERENCE_WHEELS`` (default ``~/.cache/pivotrl/reference-wheels``), where
``.ci/run`` downloads them (``pip download --no-deps --python-version 3.12 --only-binary=:all:
terminal-bench==0.2.18 harbor==0.25.0``). Absent wheels skip the test, except where
``PIVOTRL_REQUIRE_REFERENCE_WHEELS=1`` (CI) makes that a failure.
"""

from __future__ import annotations

import ast
import os
import zipfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from pivotrl_terminal.terminus2 import (
    completion_confirmation,
    initial_prompt,
    limit_output_length,
    parse_error_prompt,
    terminus_2_template,
)

HARBOR = "harbor-0.25.0-py3-none-any.whl"
TERMINAL_BENCH = "terminal_bench-0.2.18-py3-none-any.whl"
AGENT = "harbor/agents/terminus_2/terminus_2.py"


def _wheel(name: str) -> zipfile.ZipFile:
    folder = Path(os.environ.get("PIVOTRL_REFERENCE_WHEELS", Path.home() / ".cache/pivotrl/reference-wheels"))
    path = folder / name
    if not path.is_file():
        spec = "==".join(name.split("-")[:2]).replace("_", "-")  # harbor==0.25.0, terminal-bench==0.2.18
        message = (
            f"{path} not found: pip download --no-deps --python-version 3.12 --only-binary=:all: "
            f"-d {folder} {spec}"
        )
        if os.environ.get("PIVOTRL_REQUIRE_REFERENCE_WHEELS") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return zipfile.ZipFile(path)


def _method(source: str, name: str) -> Any:
    """One method of the ``Terminus2`` class from the wheel's source, as a plain function."""
    tree = ast.parse(source)
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Terminus2")
    fn = next(n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == name)
    fn.decorator_list = []
    namespace: dict[str, Any] = {}
    exec(compile(ast.Module(body=[fn], type_ignores=[]), AGENT, "exec"), namespace)  # noqa: S102
    return namespace[name]


def test_initial_prompt_is_the_official_template_rendered() -> None:
    with _wheel(HARBOR) as whl:
        template = whl.read("harbor/agents/terminus_2/templates/terminus-json-plain.txt").decode()
    assert terminus_2_template() == template
    instruction, screen = "Create /app/hello.txt containing {hello}.", "root@box:/app# "
    assert initial_prompt(instruction, screen) == template.format(
        instruction=instruction, terminal_state=screen
    )
    assert '"task_complete": true' in initial_prompt("x") and "{{" not in initial_prompt("x")


def test_terminal_bench_wheel_differs_in_one_line_only() -> None:
    """terminal-bench 0.2.18 (the Terminal-Bench 1 harness) words the newline rule differently."""
    with _wheel(TERMINAL_BENCH) as whl:
        old = whl.read("terminal_bench/agents/prompt-templates/terminus-json-plain.txt").decode()
    new = terminus_2_template()
    diff = [(a, b) for a, b in zip(old.splitlines(), new.splitlines(), strict=True) if a != b]
    assert len(diff) == 1 and "newline" in diff[0][0] and "You must end every command" in diff[0][1]


@pytest.mark.parametrize("text", ["", "short", "x" * 10000, "y" * 10001, "é" * 7000, "a\nb\n" * 4000])
def test_output_limit_matches_terminus_2(text: str) -> None:
    with _wheel(HARBOR) as whl:
        source = whl.read(AGENT).decode()
    official = _method(source, "_limit_output_length")
    assert limit_output_length(text) == official(None, text)


def test_parse_error_prompt_matches_terminus_2() -> None:
    with _wheel(HARBOR) as whl:
        source = whl.read(AGENT).decode()
    response_type = _method(source, "_get_error_response_type")(
        SimpleNamespace(options=SimpleNamespace(parser_name="json"))
    )
    feedback = "ERROR: Invalid JSON: Expecting value at line 1 column 1"
    official = (
        f"Previous response had parsing errors:\n{feedback}\n\nPlease fix these issues and provide a proper "
        f"{response_type}."
    )
    assert "Previous response had parsing errors:\\n{feedback}\\n\\n" in source  # the f-string we mirror
    assert parse_error_prompt("Invalid JSON: Expecting value at line 1 column 1") == official


def test_completion_confirmation_matches_terminus_2() -> None:
    with _wheel(HARBOR) as whl:
        source = whl.read(AGENT).decode()
    official = _method(source, "_get_completion_confirmation_message")
    agent = SimpleNamespace(options=SimpleNamespace(parser_name="json"))
    screen = "root@box:/app# cat out.txt\n42\nroot@box:/app# "
    assert completion_confirmation(screen) == official(agent, screen)
