"""docs/domains/tau2.md documents every ``pivotrl tau2`` command and option."""

from __future__ import annotations

from pathlib import Path

import pytest
from pivotrl_tau2.commands import tau2_group

DOC = Path(__file__).resolve().parents[3] / "docs" / "domains" / "tau2.md"


@pytest.mark.parametrize("name", sorted(tau2_group.commands))
def test_every_command_and_option_is_documented(name: str) -> None:
    text = DOC.read_text()
    assert f"pivotrl tau2 {name}" in text
    for param in tau2_group.commands[name].params:
        for opt in getattr(param, "opts", []):
            if opt.startswith("--"):
                assert opt in text, f"{name}: {opt} is not in {DOC.name}"


def test_python_examples_run() -> None:
    import re

    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    assert blocks
    for code in blocks:
        exec(compile(code, str(DOC), "exec"), {})
