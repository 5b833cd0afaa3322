"""docs/domains/web.md: its Python examples run, and every command option is documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pivotrl_web.commands import web

DOC = Path(__file__).resolve().parents[3] / "docs" / "domains" / "web.md"


def test_python_examples_run(banking):
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    assert len(blocks) >= 2
    for code in blocks:
        exec(compile(code, str(DOC), "exec"), {})


@pytest.mark.parametrize("name", sorted(web.commands))
def test_every_command_and_option_is_documented(name):
    text = DOC.read_text()
    assert f"pivotrl web {name}" in text
    for param in web.commands[name].params:
        for opt in getattr(param, "opts", []):
            if opt.startswith("--"):
                assert opt in text, f"{name}: {opt} is not in {DOC.name}"
